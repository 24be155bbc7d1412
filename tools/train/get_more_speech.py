#!/usr/bin/env python3
"""Collect MORE real recorded speech from Debian bookworm (main) packages, beyond the packages
that ../shared/data/get-debian-audio.sh knows, for the enhanced model's training pack.

    python3 tools/train/get_more_speech.py OUTDIR        # e.g. /work/debian-audio-extra

Result (the layout of get-debian-audio.sh, so enhanced_opuspack.py --debian reads it as is):
    OUTDIR/speech/<package>_<group>_<rate>/*.flac   mono, 16-bit, ORIGINAL sample rate,
                                                    leading/trailing silence trimmed
    OUTDIR/MANIFEST.tsv                             one row per folder (same columns)
    OUTDIR/.state/<package>.done                    package version (re-runs skip it)

What it fetches (`apt-get download`, Debian main only; licences as read from each package's
debian/copyright, which the script checks for the expected licence name):

  package              what                                          licence
  megaglest-data       unit acknowledgements ("ack"/"select" lines)  CC-BY-SA-3.0
                       of the HUMAN units of five factions (egypt,
                       indian, magic, norsemen, persian); animals,
                       monsters, machines and spirits are left out
  freedroidrpg-data    voice-acted title narration (StartOfGame,      GPL-2+
                       GameLost, act 1 EndOfAct) and Tux's in-game
                       comments (the droid voice_samples are left
                       out: robot voices)
  warmux-data          the default team's voice lines                GPL-2+
  unknown-horizons     the en / de / fr new-world voice lines        CC-BY-SA-3.0 (content/*)
  supertux-data        Tux / Penny speech (tux_rap, which is over     GPL-3+
                       music, is left out)
  boswars-data         the tutorial campaign's narration             GPL-2+
  kajongg              the eight tile-calling voices (en and de:      GPL-2+ (Files: *)
                       male1, male2, female1, female2 each; the de
                       ones may be the same people as the en ones)
  nexuiz-data          the team-message voices ("coms": attack,        GPL-2+ (free-form file)
                       cover me, incoming...) of four human player
                       models in data.pk3 (carni-lycan and reptilian,
                       creatures, and marine / specop, radio-filtered
                       to 3.5 kHz, are left out); get-debian-audio.sh
                       took only its tutorial and male announcer
  redeclipse-data      player voice lines (sounds/voice) and the       CC-BY-SA-3.0+ (Files: *)
                       announcer (alert / warning left out)
  alsa-utils           speaker-test's channel names (Front_Left...;   GPL-2 (Files: *)
                       Noise.wav left out); sound-theme-freedesktop's
                       audio-channel-*.oga are the same recordings

Looked at and NOT used (session 13): gcompris-qt-data (the voices are a separate download, not
in the package), asterisk-prompt-fr-armelle / asterisk-prompt-es-co (8 kHz GSM telephony),
flight-of-the-amazon-queen, beneath-a-steel-sky, drascula (11 kHz 8-bit speech),
warzone2100-data (11 kHz but for 40 s), tuxtype-data, kanagram, pingus-data, blinken,
pokerth-data (a few words or none), openarena-data (announcer words only), fillets-ng-data's
sound/*/en (short NPC words and noises, by the studio that voiced fillets-ng-data-cs, which the
pack has), sound-theme-freedesktop (alsa-utils' channel recordings again).

Held-out rule (enhanced_opuspack.debian_dropped): voices in the held-out languages es / it / lt
are never written (none of the packages above has any today; the check stays for new
versions).

Per file: decoded with libsndfile (python3-soundfile), downmixed to mono, trimmed where the
20 ms RMS stays below a threshold 35 dB under the loudest 50 ms RMS window (clamped to
[-70, -45] dBFS; the rule of get-debian-audio.sh), dropped when shorter than 0.5 s or hard
clipped (> 0.1 % of samples at full scale), written as 16-bit FLAC at its own rate.
Needs Debian (apt-get, dpkg-deb) and python3-numpy / python3-soundfile (installed with
apt-get when missing and run as root). Set FORCE=1 to redo packages, PACKAGES="a b" to pick,
JOBS=N for parallel decoding (default: all cores). 2.2 GB of packages; 79 s with JOBS=2 on the
session-13 machine, and a second run into an empty folder wrote the same files byte for byte.
"""

import collections
import fnmatch
import glob
import hashlib
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ProcessPoolExecutor

MIN_DUR = 0.5
MIN_RATE = 16000
CLIP_FRAC = 0.001
HELD_LANGS = ("es", "it", "lt")

MG_HUMANS = {
    "egypt": {"spearman", "anubis_warrior"},
    "indian": {"archer", "fire_archer", "horseman", "shaman", "spearman", "stickfighter", "worker"},
    "magic": {"archmage", "battlemage", "initiate", "summoner", "dragon_rider"},
    "norsemen": {"battleaxe", "battleaxe_berserk", "cudgel_lady", "spearman", "spearman_berserk",
                 "swordman", "swordman_berserk", "valkyrie", "flying_valkyrie"},
    "persian": {"fakir", "magician", "princess", "stickfighter", "swordman", "worker"},
}


def sel_megaglest(rel):
    m = re.search(r"/factions/([^/]+)/units/([^/]+)/sounds/([^/]+)$", rel)
    if not m or m.group(2) not in MG_HUMANS.get(m.group(1), ()):
        return None
    if not re.search(r"(ack|select|sel)[0-9]*\.(wav|ogg)$", m.group(3), re.I):
        return None
    return ("faction-" + m.group(1), "", "en")


def sel_freedroid(rel):
    if re.search(r"/titles/(StartOfGame|GameLost|EndOfAct)\.ogg$", rel):
        return ("narration", "", "en")
    if "/sound/effects/tux_ingame_comments/" in rel:
        return ("tux", "1", "en")
    return None


def sel_unknown_horizons(rel):
    m = re.search(r"/audio/voice/([a-z]{2})/", rel)
    return (m.group(1), "", m.group(1)) if m else None


def sel_kajongg(rel):
    m = re.search(r"/voices/(?:([a-z]{2})/)?((?:fe)?male[0-9])/[^/]+$", rel)
    if not m:
        return None
    lang = m.group(1) or "en"
    return (f"{lang}-{m.group(2)}", "1", lang)


def sel_nexuiz(rel):
    m = re.search(r"/sound/player/([^/]+)/coms/[^/]+\.(ogg|wav)$", rel)
    if not m or m.group(1) in ("carni-lycan", "reptilian", "marine", "specop"):
        return None
    return ("coms-" + m.group(1), "1", "en")


def sel_redeclipse(rel):
    if "/sounds/voice/" in rel:
        return ("voice", "", "en")
    if "/sounds/announcer/" in rel and not re.search(r"/(alert|warning)\.ogg$", rel):
        return ("announcer", "1", "en")
    return None


# package -> (tar members, selection rule, expected licence in debian/copyright[,
#             (zip archive inside the package, members to take from it)])
SOURCES = {
    "megaglest-data": (["./usr/share/games/megaglest/techs/megapack/factions/*/units/*/sounds/*"],
                       sel_megaglest, "CC-BY-SA-3.0"),
    "freedroidrpg-data": (["./usr/share/freedroidrpg/data/base/titles/*.ogg",
                           "./usr/share/freedroidrpg/data/storyline/act1/titles/*.ogg",
                           "./usr/share/freedroidrpg/data/sound/effects/tux_ingame_comments/*"],
                          sel_freedroid, "GPL-2+"),
    "warmux-data": (["./usr/share/games/warmux/sound/default/voices/*"],
                    lambda rel: ("default", "", "en"), "GPL-2+"),
    "unknown-horizons": (["./usr/share/unknown-horizons/content/audio/voice/*"],
                         sel_unknown_horizons, "CC-BY-SA-3.0"),
    "supertux-data": (["./usr/share/games/supertux2/speech/*"],
                      lambda rel: None if "tux_rap" in rel else ("tux-penny", "2", "en"), "GPL-3+"),
    "boswars-data": (["./usr/share/games/boswars/campaigns/tutorial/*.wav"],
                     lambda rel: ("tutorial", "1", "en"), "GPL-2+"),
    "kajongg": (["./usr/share/kajongg/voices/*"], sel_kajongg, "GPL-2+"),
    "nexuiz-data": (["./usr/share/games/nexuiz/data/data.pk3"], sel_nexuiz, "GPL-2+",
                    ("usr/share/games/nexuiz/data/data.pk3", "sound/player/*/coms/*")),
    "redeclipse-data": (["./usr/share/games/redeclipse/data/sounds/voice/*",
                         "./usr/share/games/redeclipse/data/sounds/announcer/*"],
                        sel_redeclipse, "CC-BY-SA-3.0+"),
    "alsa-utils": (["./usr/share/sounds/alsa/*.wav"],
                   lambda rel: None if rel.endswith("/Noise.wav") else ("channels", "1", "en"),
                   "GPL-2"),
}
AUDIO = (".ogg", ".wav", ".flac")


def log(*a):
    print(*a, flush=True)


def ensure_deps():
    for tool in ("apt-get", "dpkg-deb", "tar"):
        if not shutil.which(tool):
            raise SystemExit(f"needs a Debian system ({tool} missing)")
    try:
        import numpy  # noqa: F401
        import soundfile  # noqa: F401
    except ImportError:
        if os.geteuid() != 0:
            raise SystemExit("install python3-numpy python3-soundfile (or run as root)")
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                        "python3-numpy", "python3-soundfile"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def licence_of(copyright_text, expected):
    """EXPECTED (read by hand from the package's debian/copyright, session 13) when that file
    still names it (a DEP-5 "License:" field, or for warmux-data's free-form file the GPL
    "version 2 ... or (at your option) any later version" text); else stop: a new package
    version may have changed the terms, review it"""
    names = re.findall(r"^License:[ \t]*(\S+)", copyright_text, re.M)
    gpl2_plus = re.search(r"version 2\s+of the License, or\s+\(at your option\) any later",
                          copyright_text)
    if expected in names or (expected == "GPL-2+" and not names and gpl2_plus):
        return expected
    raise SystemExit(f"licence {expected} not found in debian/copyright; review the package")


def frames_rms(x, rate, win_s, hop_s):
    import numpy as np
    w, h = max(1, int(win_s * rate)), max(1, int(hop_s * rate))
    if len(x) < w:
        return np.array([np.sqrt(np.mean(x ** 2) + 1e-20)]), w, h
    c = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    starts = np.arange(0, len(x) - w + 1, h)
    return np.sqrt((c[starts + w] - c[starts]) / w + 1e-20), w, h


def process(job):
    """decode, trim, check, write one file -> (folder, name, seconds, status, snr_proxy)"""
    import numpy as np
    import soundfile as sf
    src, out_root, pkg, group, oname = job
    try:
        x, rate = sf.read(src, dtype="float32", always_2d=True)
    except Exception:  # noqa: BLE001
        return ("-", oname, 0.0, "decode_error", "")
    if rate < MIN_RATE:
        return ("-", oname, 0.0, f"low_rate_{rate}", "")
    x = x.mean(axis=1)
    rms50, _, _ = frames_rms(x, rate, 0.05, 0.025)
    t = 20 * np.log10(rms50.max()) - 35
    t = min(-45.0, max(-70.0, t)) if np.isfinite(t) else -50.0
    r20, w, h = frames_rms(x, rate, 0.02, 0.005)
    above = np.nonzero(20 * np.log10(r20) > t)[0]
    folder = f"{pkg}_{group}_{rate}"
    if len(above) == 0:
        return (folder, oname, 0.0, "short", "")
    y = x[above[0] * h: min(len(x), above[-1] * h + w)]
    sec = len(y) / rate
    if sec < MIN_DUR:
        return (folder, oname, sec, "short", "")
    if np.mean(np.abs(y) >= 0.9999) > CLIP_FRAC:
        return (folder, oname, sec, "clipped", "")
    r, _, _ = frames_rms(y, rate, 0.05, 0.025)
    snr = 20 * np.log10(r.max() / max(r.min(), 1e-10))
    d = pathlib.Path(out_root, "speech", folder)
    d.mkdir(parents=True, exist_ok=True)
    sf.write(str(d / (oname + ".flac")), np.clip(y, -1, 1), rate, subtype="PCM_16", format="FLAC")
    return (folder, oname, sec, "ok", f"{min(snr, 99.0):.1f}")


def bandwidth(path):
    """highest frequency within 60 dB of the loudest (250 Hz-smoothed) spectrum bin"""
    import numpy as np
    import soundfile as sf
    x, sr = sf.read(path, dtype="float32")
    nfft = 2048 if sr >= 32000 else 1024
    if len(x) < nfft * 2:
        return None
    seg = np.lib.stride_tricks.sliding_window_view(x, nfft)[::nfft // 2]
    e = (seg ** 2).mean(axis=1)
    sel = seg[e >= np.percentile(e, 50)]
    p = (np.abs(np.fft.rfft(sel * np.hanning(nfft), axis=1)) ** 2).mean(axis=0)
    f = np.fft.rfftfreq(nfft, 1 / sr)
    pd = 10 * np.log10(p + 1e-20)
    k = max(1, int(250 / (sr / nfft)))
    sm = np.convolve(pd, np.ones(k) / k, mode="same")
    idx = np.nonzero(sm > pd.max() - 60)[0]
    return float(f[idx.max()]) if len(idx) else None


def clean(s):
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", s).strip("_") or "x"


def do_package(pkg, out, tmp, jobs):
    members, rule, lic_expected, *inner = SOURCES[pkg]
    ver = subprocess.run(["apt-cache", "show", "--no-all-versions", pkg], capture_output=True,
                         text=True).stdout
    m = re.search(r"^Version:\s*(\S+)", ver, re.M)
    if not m:
        raise SystemExit(f"{pkg}: not in the apt sources (apt-get update? Debian bookworm main?)")
    ver = m.group(1)
    state = out / ".state"
    done = state / f"{pkg}.done"
    if os.environ.get("FORCE") != "1" and done.exists() and done.read_text().strip() == ver:
        log(f"{pkg} {ver}: already done")
        return
    for d in glob.glob(str(out / "speech" / f"{pkg}_*")):
        shutil.rmtree(d)
    pd = pathlib.Path(tmp, pkg)
    (pd / "root").mkdir(parents=True)
    log(f"{pkg} {ver}: downloading")
    subprocess.run(["apt-get", "download", "-q", pkg], cwd=pd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deb = next(pd.glob(f"{pkg}_*.deb"))
    dp = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(pd / "root"), "--wildcards", *members,
                    f"./usr/share/doc/{pkg}/copyright"], stdin=dp.stdout, check=True)
    dp.wait()
    deb.unlink()
    for archive, pattern in inner:   # the archive becomes a folder of the same name
        z = pd / "root" / archive
        z.rename(z.with_suffix(".tmp"))
        with zipfile.ZipFile(z.with_suffix(".tmp")) as zf:
            zf.extractall(z, [n for n in zf.namelist() if fnmatch.fnmatchcase(n, pattern)])
        z.with_suffix(".tmp").unlink()
    lic = licence_of((pd / "root" / "usr/share/doc" / pkg / "copyright").read_text(
        errors="replace"), lic_expected)
    rows, seen = [], set()
    for p in sorted(pd.joinpath("root").rglob("*")):
        rel = "/" + str(p.relative_to(pd / "root"))
        if not p.is_file() or p.suffix.lower() not in AUDIO or "/usr/share/doc/" in rel:
            continue
        sel = rule(rel)
        if not sel:
            continue
        group, spk, lang = sel
        if lang in HELD_LANGS:
            log(f"  {rel}: held-out language {lang}, not written")
            continue
        h = hashlib.md5(p.read_bytes()).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        parts = [q for q in rel.split("/")[-3:] if q != "sounds"]   # unit__file, dir__file
        rows.append([str(p), str(out), pkg, clean(group).replace("_", "-"),
                     clean(os.path.splitext("__".join(parts))[0]), spk, lang])
    names = collections.Counter((r[3], r[4]) for r in rows)
    for r in rows:
        if names[(r[3], r[4])] > 1:
            r[4] += "_" + hashlib.md5(r[0].encode()).hexdigest()[:6]
    if not rows:
        raise SystemExit(f"{pkg}: no speech files selected (package layout changed?)")
    log(f"{pkg}: decoding {len(rows)} files")
    with ProcessPoolExecutor(jobs) as ex:
        res = list(ex.map(process, [r[:5] for r in rows]))
    state.mkdir(parents=True, exist_ok=True)
    with open(state / f"{pkg}.files.tsv", "w") as w:
        for r, (folder, name, sec, status, snr) in zip(rows, res):
            w.write("\t".join([folder, name, f"{sec:.3f}", status, snr, r[5], r[6], lic]) + "\n")
    kept = [x for x in res if x[3] == "ok"]
    drops = collections.Counter(x[3] for x in res if x[3] != "ok")
    log(f"{pkg}: kept {len(kept)} files, {sum(x[2] for x in kept) / 60:.1f} min; "
        f"dropped {dict(drops) or 'none'}")
    done.write_text(ver + "\n")
    shutil.rmtree(pd)


def manifest(out):
    import numpy as np
    hdr = ["folder", "package", "version", "license", "sample_rate", "n_files", "total_seconds",
           "n_speakers", "kind", "language", "bandwidth_khz_est", "snr_proxy_db_median",
           "n_dropped_short", "n_dropped_clipped"]
    lines = []
    tot = 0.0
    for done in sorted((out / ".state").glob("*.done")):
        pkg = done.name[:-5]
        ver = done.read_text().strip()
        agg = collections.defaultdict(lambda: {"n": 0, "s": 0.0, "snr": [], "short": 0,
                                               "clipped": 0, "spk": "", "lang": "", "lic": ""})
        for line in open(out / ".state" / f"{pkg}.files.tsv"):
            folder, name, sec, status, snr, spk, lang, lic = line.rstrip("\n").split("\t")
            if folder == "-":
                continue
            a = agg[folder]
            a.update(spk=spk, lang=lang, lic=lic)
            if status == "ok":
                a["n"] += 1
                a["s"] += float(sec)
                a["snr"].append(float(snr))
            elif status in ("short", "clipped"):
                a[status] += 1
        for folder in sorted(agg):
            a = agg[folder]
            if not a["n"]:
                continue
            fs = sorted(glob.glob(str(out / "speech" / folder / "*.flac")))
            random.Random(0).shuffle(fs)
            bws = [b for b in (bandwidth(f) for f in fs[:40]) if b]
            bw = f"{np.median(bws) / 1000:.1f}" if bws else ""
            lines.append([f"speech/{folder}", pkg, ver, a["lic"], folder.rsplit("_", 1)[1],
                          str(a["n"]), f"{a['s']:.1f}", a["spk"], "speech", a["lang"], bw,
                          f"{np.median(a['snr']):.1f}", str(a["short"]), str(a["clipped"])])
            tot += a["s"]
    with open(out / "MANIFEST.tsv", "w") as w:
        w.write("\t".join(hdr) + "\n")
        for r in lines:
            w.write("\t".join(r) + "\n")
    log(f"manifest: {out / 'MANIFEST.tsv'}: {len(lines)} folders, {tot / 60:.1f} min of speech")


def main(argv):
    if len(argv) != 1:
        print(__doc__)
        return 2
    out = pathlib.Path(argv[0]).resolve()
    ensure_deps()
    (out / "speech").mkdir(parents=True, exist_ok=True)
    pkgs = os.environ.get("PACKAGES", " ".join(SOURCES)).split()
    for p in pkgs:
        if p not in SOURCES:
            raise SystemExit(f"unknown package {p} (known: {' '.join(SOURCES)})")
    jobs = int(os.environ.get("JOBS", os.cpu_count() or 2))
    with tempfile.TemporaryDirectory(prefix="get_more_speech.") as tmp:
        os.chmod(tmp, 0o755)   # apt-get download drops to _apt when it can
        for p in pkgs:
            do_package(p, out, tmp, jobs)
    manifest(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
