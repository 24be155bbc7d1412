"""Start-up shared by the GPU/CPU training scripts (ultra_e2e.py, rnnoise_e2e.py,
enhanced_train.py).

    dev = train_common.setup_torch(args.device, cfg)   # device, CPU threads, seed, cuDNN

setup_torch: the torch.device for `device` ("cuda", "cpu", ...); on the CPU, cfg["threads"]
threads (default 1: the shared 2-core machine is ~10x slower with two); the global seed
cfg["seed"]; cudnn.benchmark on (fixed shapes every step).
"""

import torch


def setup_torch(device, cfg):
    dev = torch.device(device)
    if dev.type == "cpu":
        torch.set_num_threads(int(cfg.get("threads", 1)))
    torch.manual_seed(cfg["seed"])
    torch.backends.cudnn.benchmark = True
    return dev
