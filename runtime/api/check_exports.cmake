# Fails unless the dynamic symbols that LIB defines are exactly the names in EXPORTS (one per
# line, the checked-in list of the C ABI), each under the GHOSTNV_0 version, and the library's
# SONAME is SONAME.
# With -DHEADER=ghostnv.h it also checks that the list names exactly the functions the header
# declares with GHOSTNV_API.
# Usage: cmake -DLIB=libghostnv.so -DEXPORTS=ghostnv.exports -DSONAME=libghostnv.so.0
#              [-DHEADER=include/ghostnv/ghostnv.h] -P check_exports.cmake
find_program(NM nm REQUIRED)
find_program(READELF readelf)
execute_process(COMMAND ${NM} -D --defined-only --with-symbol-versions ${LIB}
                OUTPUT_VARIABLE out RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  # Older binutils have no --with-symbol-versions (nm -D then shows versions anyway or not at all).
  execute_process(COMMAND ${NM} -D --defined-only ${LIB} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nm failed on ${LIB}")
  endif()
endif()
file(STRINGS ${EXPORTS} expected REGEX "^[A-Za-z_][A-Za-z0-9_]*$")
list(SORT expected)

string(REPLACE "\n" ";" lines "${out}")
set(actual "")
set(unversioned "")
foreach(line IN LISTS lines)
  if(line MATCHES "^[0-9a-fA-F]+ ([A-Za-z]) ([^@ ]+)(@+[^ ]*)?$")
    set(type "${CMAKE_MATCH_1}")
    set(sym "${CMAKE_MATCH_2}")
    set(ver "${CMAKE_MATCH_3}")
    if(type STREQUAL "A" OR sym MATCHES "^(_init|_fini|_edata|_end|__bss_start)$")
      continue()
    endif()
    list(APPEND actual "${sym}")
    if(NOT ver STREQUAL "" AND NOT ver MATCHES "GHOSTNV_0$")
      list(APPEND unversioned "${sym}${ver}")
    endif()
  endif()
endforeach()
list(SORT actual)
list(REMOVE_DUPLICATES actual)

set(extra ${actual})
list(REMOVE_ITEM extra ${expected})
set(missing ${expected})
if(actual)
  list(REMOVE_ITEM missing ${actual})
endif()
if(extra OR missing OR unversioned)
  message(FATAL_ERROR "libghostnv's exported symbols differ from ${EXPORTS}:\n"
          "  exported but not listed: ${extra}\n"
          "  listed but not exported: ${missing}\n"
          "  wrong symbol version: ${unversioned}\n"
          "Update the list (and the header) together, on purpose.")
endif()

if(HEADER)
  file(READ ${HEADER} header)
  string(REGEX MATCHALL "GHOSTNV_API[^;(]*[ *](ghostnv_[a-z_0-9]+)\\(" decls "${header}")
  set(declared "")
  foreach(d IN LISTS decls)
    string(REGEX REPLACE ".*[ *](ghostnv_[a-z_0-9]+)\\($" "\\1" name "${d}")
    list(APPEND declared ${name})
  endforeach()
  list(SORT declared)
  if(NOT declared STREQUAL expected)
    message(FATAL_ERROR "${HEADER} declares (GHOSTNV_API): ${declared}\n"
            "${EXPORTS} lists: ${expected}")
  endif()
endif()

if(SONAME AND READELF)
  execute_process(COMMAND ${READELF} -d ${LIB} OUTPUT_VARIABLE dyn)
  if(NOT dyn MATCHES "Library soname: \\[${SONAME}\\]")
    message(FATAL_ERROR "libghostnv's SONAME is not ${SONAME}:\n${dyn}")
  endif()
endif()
list(LENGTH actual n)
message(STATUS "libghostnv exports exactly the ${n} symbols of ${EXPORTS} (soname ${SONAME})")
