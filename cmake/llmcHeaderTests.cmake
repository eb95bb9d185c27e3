# llmcHeaderTests.cmake — the two checks every public header must pass.
#
# 1. Self-contained: llmc_add_header_tests() generates one translation unit per header under
#    include/llmc that includes only that header (twice, so a missing #pragma once / include guard
#    is a redefinition error) and compiles them into object libraries that are part of ALL, so a
#    header that forgets one of its own includes breaks `cmake --build`. A header that needs a
#    third-party library (found by scanning the <...> includes of the header and everything it
#    includes from llmc) is compiled against the llmc target that provides that library, or skipped
#    with a message naming the missing dependency (headers that include <cblas.h> only under
#    LLMC_HAS_CBLAS are compiled both without and with llmc::blas). CUDA-only headers
#    (llmc/backend/cuda/**, *.cuh) are compiled by nvcc instead, when CUDA is enabled. Headers that
#    include <thrust/...> (tensor/adapt_thrust.hpp, backend/thrust/**) are compiled by the host
#    compiler against llmc::thrust_host (Thrust's CPP device system, cmake/llmcThrust.cmake).
# 2. Layering: run as a script,
#      cmake -DINCLUDE_DIR=<dir containing llmc/> -P llmcHeaderTests.cmake
#    it parses every #include "llmc/..." (or <llmc/...>) of every header and fails, listing each
#    offending header and include, when a header includes one from a higher layer (the ranks of
#    notes/preamble.md: core 0, numeric 1, tensor 2, scheme 3, backend 4, method 5, io 6, text 6,
#    model 7, pipeline 8). llmc/<name>.hpp umbrellas belong to layer <name>; llmc/llmc.hpp is exempt.
#    A header in a folder with no rank, or an include of a header that does not exist, also fails.
#    With -DEXPECT_FILE=<file> (one "llmc/a.hpp -> llmc/b.hpp" per line) the script instead runs
#    itself on INCLUDE_DIR and passes only if that run FAILS and reports exactly those violations,
#    which is how the check proves it can fail (tests/headers/fixtures).

set(LLMC_LAYER_RANKS core=0 numeric=1 tensor=2 scheme=3 backend=4 method=5 io=6 text=6 model=7 pipeline=8)

# The layer a header belongs to, from its path relative to the include root ("llmc/x/y.hpp").
# Umbrella "llmc/x.hpp" -> x; "llmc/llmc.hpp" -> "llmc" (the exempt top umbrella).
function(llmc_header_layer rel out)
  string(REGEX REPLACE "^llmc/" "" rest "${rel}")
  if(rest MATCHES "^([^/]+)/")
    set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
  else()
    string(REGEX REPLACE "\\.[^.]*$" "" name "${rest}")
    set(${out} "${name}" PARENT_SCOPE)
  endif()
endfunction()

# Rank of a layer; "llmc" (the top umbrella) ranks above every layer; -1 when the layer is unranked.
function(llmc_layer_rank layer out)
  if(layer STREQUAL "llmc")
    set(${out} 1000 PARENT_SCOPE)
    return()
  endif()
  foreach(pair IN LISTS LLMC_LAYER_RANKS)
    if(pair MATCHES "^${layer}=([0-9]+)$")
      set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} -1 PARENT_SCOPE)
endfunction()

# The #include directives of one file: <out_llmc> gets the llmc/... paths (quoted or angled),
# <out_system> every other <...> include. Only lines that start with '#' count, so commented-out
# includes ("// #include ...") are ignored. A system include inside an `#if defined(__CUDACC__)` /
# `#ifdef __CUDACC__` branch (e.g. scheme/quantize.hpp's <cuda_fp8.h> for nvcc only) is not a
# dependency of the header: g++ never sees it, so it must not turn the header into a CUDA-only one
# (which would compile it with nvcc alone and lose its g++ check). llmc includes always count (the
# layering check sees every branch).
function(llmc_header_includes file out_llmc out_system)
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*(include[ \t]*[<\"]|if|ifdef|ifndef|elif|else|endif)")
  set(llmc_incs)
  set(sys_incs)
  set(stack)  # one entry per open #if: 1 while inside a __CUDACC__-only branch, else 0
  foreach(line IN LISTS lines)
    if(line MATCHES "^[ \t]*#[ \t]*(if|ifdef|ifndef)[ \t(]")
      if(line MATCHES "^[ \t]*#[ \t]*(ifdef[ \t]+__CUDACC__|if[ \t]+defined[ \t]*\\(?[ \t]*__CUDACC__[ \t]*\\)?[ \t]*($|//))")
        list(APPEND stack 1)
      else()
        list(APPEND stack 0)
      endif()
      continue()
    elseif(line MATCHES "^[ \t]*#[ \t]*(elif|else)")
      if(stack)
        list(POP_BACK stack)
        list(APPEND stack 0)
      endif()
      continue()
    elseif(line MATCHES "^[ \t]*#[ \t]*endif")
      if(stack)
        list(POP_BACK stack)
      endif()
      continue()
    endif()
    list(FIND stack 1 in_cuda_branch)  # (not IN_LIST: script mode runs without policy CMP0057)
    if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*[<\"](llmc/[^>\"]+)[>\"]")
      list(APPEND llmc_incs "${CMAKE_MATCH_1}")
    elseif(line MATCHES "^[ \t]*#[ \t]*include[ \t]*<([^>]+)>" AND in_cuda_branch EQUAL -1)
      list(APPEND sys_incs "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  set(${out_llmc} "${llmc_incs}" PARENT_SCOPE)
  set(${out_system} "${sys_incs}" PARENT_SCOPE)
endfunction()

# Every public header below <include_dir>/llmc, as paths relative to <include_dir>, sorted.
# At configure time the glob is re-checked on every build, so a new header is picked up.
function(llmc_list_headers include_dir out)
  set(depends)
  if(NOT CMAKE_SCRIPT_MODE_FILE)
    set(depends CONFIGURE_DEPENDS)
  endif()
  file(GLOB_RECURSE headers RELATIVE "${include_dir}" ${depends}
       "${include_dir}/llmc/*.hpp" "${include_dir}/llmc/*.cuh" "${include_dir}/llmc/*.h")
  list(SORT headers)
  set(${out} "${headers}" PARENT_SCOPE)
endfunction()

# The layering check. Sets <out_violations> to "hdr -> inc" for each upward include and
# <out_problems> to human-readable lines for every failure (violations, unranked, missing).
function(llmc_check_layering include_dir out_violations out_problems)
  llmc_list_headers("${include_dir}" headers)
  set(violations)
  set(problems)
  foreach(hdr IN LISTS headers)
    llmc_header_layer("${hdr}" layer)
    llmc_layer_rank("${layer}" rank)
    if(rank EQUAL -1)
      list(APPEND problems "unranked header: ${hdr} is in layer '${layer}', which has no rank (add it to LLMC_LAYER_RANKS in cmake/llmcHeaderTests.cmake)")
      continue()
    endif()
    llmc_header_includes("${include_dir}/${hdr}" incs sys)
    foreach(inc IN LISTS incs)
      if(NOT EXISTS "${include_dir}/${inc}")
        list(APPEND problems "missing include: ${hdr} includes ${inc}, which does not exist")
        continue()
      endif()
      if(layer STREQUAL "llmc")
        continue()  # llmc/llmc.hpp includes everything by design
      endif()
      llmc_header_layer("${inc}" inc_layer)
      llmc_layer_rank("${inc_layer}" inc_rank)
      if(inc_rank GREATER rank)
        list(APPEND violations "${hdr} -> ${inc}")
        list(APPEND problems "layering violation: ${hdr} includes ${inc} (layer ${layer}=${rank} may not include layer ${inc_layer}=${inc_rank})")
      endif()
    endforeach()
  endforeach()
  set(${out_violations} "${violations}" PARENT_SCOPE)
  set(${out_problems} "${problems}" PARENT_SCOPE)
endfunction()

# llmc_add_header_tests(INCLUDE_DIR <dir> [TARGET <name>] [OPTIONS <compile options...>])
# Generates and compiles the self-contained header translation units (see the top of this file).
# Creates the custom target <name> (default llmc_header_tests) depending on every object library.
function(llmc_add_header_tests)
  cmake_parse_arguments(H "" "INCLUDE_DIR;TARGET" "OPTIONS" ${ARGN})
  if(NOT H_TARGET)
    set(H_TARGET llmc_header_tests)
  endif()
  llmc_list_headers("${H_INCLUDE_DIR}" headers)

  # Direct includes of every header, then the third-party includes each one reaches transitively.
  foreach(hdr IN LISTS headers)
    string(MAKE_C_IDENTIFIER "${hdr}" id)
    llmc_header_includes("${H_INCLUDE_DIR}/${hdr}" _llmc_${id} _sys_${id})
  endforeach()

  set(groups)
  set(skipped 0)
  set(count 0)
  set(count_blas 0)
  foreach(hdr IN LISTS headers)
    # Transitive closure over llmc includes (breadth first; cycles are harmless).
    set(seen "${hdr}")
    set(queue "${hdr}")
    set(system)
    while(queue)
      list(POP_FRONT queue cur)
      string(MAKE_C_IDENTIFIER "${cur}" cid)
      list(APPEND system ${_sys_${cid}})
      foreach(next IN LISTS _llmc_${cid})
        if(NOT next IN_LIST seen AND EXISTS "${H_INCLUDE_DIR}/${next}")
          list(APPEND seen "${next}")
          list(APPEND queue "${next}")
        endif()
      endforeach()
    endwhile()

    # Third-party library each include belongs to.
    set(features)
    if(hdr MATCHES "^llmc/backend/cuda/" OR hdr MATCHES "\\.cuh$")
      list(APPEND features cuda)
    endif()
    foreach(s IN LISTS system)
      if(s MATCHES "^(Eigen|unsupported/Eigen)/")
        list(APPEND features eigen)
      elseif(s MATCHES "^(xtensor|xtl)/")
        list(APPEND features xtensor)
      elseif(s MATCHES "^nlohmann/")
        list(APPEND features json)
      elseif(s MATCHES "^pcre2\\.h$")
        list(APPEND features pcre2)
      elseif(s MATCHES "^utf8proc\\.h$")
        list(APPEND features utf8proc)
      elseif(s MATCHES "^yaml-cpp/")
        list(APPEND features yaml)
      elseif(s MATCHES "^CLI/")
        list(APPEND features cli11)
      elseif(s MATCHES "^cblas\\.h$")
        list(APPEND features cblas)
      elseif(s MATCHES "^thrust/")
        list(APPEND features thrust)
      elseif(s MATCHES "^(cuda|cublas|cusolver|curand|cufft|cusparse|cub/|cuda/|mma\\.h|nvtx)")
        list(APPEND features cuda)
      endif()
    endforeach()
    list(REMOVE_DUPLICATES features)
    if("cuda" IN_LIST features)
      list(REMOVE_ITEM features thrust)  # nvcc compiles Thrust for CUDA itself
    endif()
    list(SORT features)

    # Libraries that provide them; a header whose dependency is not available is skipped.
    set(libs)
    set(missing)
    set(lang CXX)
    set(also_blas FALSE)
    foreach(f IN LISTS features)
      if(f STREQUAL "eigen")
        if(TARGET llmc::eigen)
          list(APPEND libs llmc::eigen)
        else()
          list(APPEND missing "Eigen (llmc::eigen)")
        endif()
      elseif(f STREQUAL "xtensor")
        if(TARGET llmc::xtensor)
          list(APPEND libs llmc::xtensor)
        else()
          list(APPEND missing "xtensor (llmc::xtensor)")
        endif()
      elseif(f STREQUAL "json")
        if(TARGET llmc::io)
          list(APPEND libs llmc::io)
        else()
          list(APPEND missing "nlohmann-json (llmc::io)")
        endif()
      elseif(f STREQUAL "pcre2" OR f STREQUAL "utf8proc")
        if(TARGET llmc::text)
          list(APPEND libs llmc::text)
        elseif(f STREQUAL "pcre2" AND TARGET PkgConfig::LLMC_HDR_PCRE2)
          list(APPEND libs PkgConfig::LLMC_HDR_PCRE2)
        elseif(f STREQUAL "utf8proc" AND TARGET PkgConfig::LLMC_HDR_UTF8PROC)
          list(APPEND libs PkgConfig::LLMC_HDR_UTF8PROC)
        else()
          list(APPEND missing "${f} (llmc::text, or pkg-config libpcre2-8 / libutf8proc)")
        endif()
      elseif(f STREQUAL "yaml")
        if(TARGET yaml-cpp::yaml-cpp)
          list(APPEND libs yaml-cpp::yaml-cpp)
        elseif(TARGET yaml-cpp)
          list(APPEND libs yaml-cpp)
        else()
          list(APPEND missing "yaml-cpp")
        endif()
      elseif(f STREQUAL "cli11")
        if(TARGET CLI11::CLI11)
          list(APPEND libs CLI11::CLI11)
        else()
          list(APPEND missing "CLI11")
        endif()
      elseif(f STREQUAL "cblas")
        # <cblas.h> is included only under LLMC_HAS_CBLAS (backend/cpu/blas.hpp), which llmc::blas
        # defines: the header is compiled as every consumer sees it (without), and again with
        # llmc::blas when that target exists.
        if(TARGET llmc::blas)
          set(also_blas TRUE)
        endif()
      elseif(f STREQUAL "thrust")
        # Thrust headers are compiled by the host compiler with THRUST_DEVICE_SYSTEM=CPP
        # (cmake/llmcThrust.cmake); nvcc compiles them in tests/thrust when CUDA is enabled.
        if(TARGET llmc::thrust_host)
          list(APPEND libs llmc::thrust_host)
        else()
          list(APPEND missing "Thrust headers (llmc::thrust_host: a CUDA toolkit or -DLLMC_CCCL_INCLUDE_DIR)")
        endif()
      elseif(f STREQUAL "cuda")
        if(LLMC_CUDA_ENABLED AND TARGET llmc::cuda)
          list(APPEND libs llmc::cuda)
          set(lang CUDA)
        else()
          list(APPEND missing "CUDA (a CUDA-only header; compiled by nvcc when LLMC_CUDA_ENABLED)")
        endif()
      endif()
    endforeach()
    if(missing)
      list(JOIN missing ", " why)
      message(STATUS "llmc: header test skips ${hdr}: needs ${why}")
      math(EXPR skipped "${skipped} + 1")
      continue()
    endif()
    list(REMOVE_DUPLICATES libs)

    # One translation unit per header; file(CONFIGURE) rewrites it only when its text changes.
    string(REGEX REPLACE "[/.]" "_" stem "${hdr}")
    if(lang STREQUAL "CUDA")
      set(ext cu)
    else()
      set(ext cpp)
    endif()
    set(tu "${CMAKE_CURRENT_BINARY_DIR}/self_contained/${stem}.${ext}")
    file(CONFIGURE OUTPUT "${tu}" CONTENT
      "// Generated by cmake/llmcHeaderTests.cmake: ${hdr} must compile on its own, and twice.\n#include \"${hdr}\"\n#include \"${hdr}\"\n"
      @ONLY)

    list(REMOVE_ITEM features cblas)
    list(JOIN features "_" key)
    if(key STREQUAL "")
      set(key "std")
    endif()
    set(variants "${key}")
    math(EXPR count "${count} + 1")
    if(also_blas)
      list(APPEND variants "${key}_blas")
      math(EXPR count_blas "${count_blas} + 1")
    endif()
    foreach(v IN LISTS variants)
      if(NOT v IN_LIST groups)
        list(APPEND groups "${v}")
        set(_libs_${v} "${libs}")
        if(v MATCHES "_blas$")
          list(APPEND _libs_${v} llmc::blas)
        endif()
        set(_srcs_${v})
      endif()
      list(APPEND _srcs_${v} "${tu}")
    endforeach()
  endforeach()

  add_custom_target(${H_TARGET})
  foreach(key IN LISTS groups)
    set(lib "${H_TARGET}_${key}")
    add_library(${lib} OBJECT ${_srcs_${key}})
    target_link_libraries(${lib} PRIVATE llmc::llmc ${_libs_${key}})
    if(key MATCHES "cuda")
      # CMake 3.25 has no C++20 flag for nvcc (CUDA_STANDARD 20 fails to generate); LLMC_HOST_DEVICE
      # functions call constexpr std:: functions, which device code may only with relaxed constexpr.
      target_compile_options(${lib} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>
                                            $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr>)
    else()
      target_compile_options(${lib} PRIVATE ${H_OPTIONS})
    endif()
    add_dependencies(${H_TARGET} ${lib})
  endforeach()
  message(STATUS "llmc: header test compiles ${count} headers on their own (${count_blas} also with llmc::blas; ${skipped} skipped)")
endfunction()

# ---- script mode: the layering check ---------------------------------------------------------
if(CMAKE_SCRIPT_MODE_FILE AND CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  if(DEFINED SCAN_FILE)
    # Include-scan mode: the system includes llmc_header_includes finds in SCAN_FILE must be
    # exactly EXPECT_SYSTEM (comma-separated, in order).
    string(REPLACE "," ";" EXPECT_SYSTEM "${EXPECT_SYSTEM}")
    llmc_header_includes("${SCAN_FILE}" scanned_llmc scanned_system)
    if(NOT scanned_system STREQUAL EXPECT_SYSTEM)
      message(FATAL_ERROR "llmc_header_includes(${SCAN_FILE}) found system includes '${scanned_system}', expected '${EXPECT_SYSTEM}'")
    endif()
    message(STATUS "include scan of ${SCAN_FILE}: system includes ${scanned_system}; llmc includes ${scanned_llmc}")
    return()
  endif()
  if(NOT INCLUDE_DIR OR NOT IS_DIRECTORY "${INCLUDE_DIR}/llmc")
    message(FATAL_ERROR "llmcHeaderTests: pass -DINCLUDE_DIR=<directory containing llmc/> (got '${INCLUDE_DIR}')")
  endif()
  get_filename_component(INCLUDE_DIR "${INCLUDE_DIR}" ABSOLUTE)

  if(DEFINED EXPECT_FILE)
    # Expect-failure mode: the plain check on INCLUDE_DIR must exit non-zero and report exactly
    # the violations listed in EXPECT_FILE.
    file(STRINGS "${EXPECT_FILE}" expected REGEX "->")
    list(SORT expected)
    execute_process(
      COMMAND "${CMAKE_COMMAND}" "-DINCLUDE_DIR=${INCLUDE_DIR}" -P "${CMAKE_CURRENT_LIST_FILE}"
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    set(all "${out}${err}")
    if(rc EQUAL 0)
      message(FATAL_ERROR "the layering check passed on ${INCLUDE_DIR}, but that tree has upward includes:\n${all}")
    endif()
    string(REGEX MATCHALL "layering violation: [^ ]+ includes [^ ]+" found "${all}")
    set(reported)
    foreach(f IN LISTS found)
      string(REGEX REPLACE "layering violation: ([^ ]+) includes ([^ ]+)" "\\1 -> \\2" f "${f}")
      list(APPEND reported "${f}")
    endforeach()
    list(SORT reported)
    if(NOT reported STREQUAL expected)
      string(REPLACE ";" "\n  " e "${expected}")
      string(REPLACE ";" "\n  " r "${reported}")
      message(FATAL_ERROR "the layering check on ${INCLUDE_DIR} reported\n  ${r}\nbut must report exactly\n  ${e}\nfull output:\n${all}")
    endif()
    list(LENGTH expected n)
    message(STATUS "the layering check failed as expected with the ${n} listed upward includes")
    return()
  endif()

  llmc_check_layering("${INCLUDE_DIR}" violations problems)
  llmc_list_headers("${INCLUDE_DIR}" headers)
  list(LENGTH headers n_headers)
  if(n_headers EQUAL 0)
    message(FATAL_ERROR "llmc: no headers found under ${INCLUDE_DIR}/llmc")
  endif()
  if(problems)
    foreach(p IN LISTS problems)
      message(NOTICE "${p}")
    endforeach()
    list(LENGTH violations n_up)
    list(LENGTH problems n_all)
    message(FATAL_ERROR "llmc: header layering check failed: ${n_up} upward include(s), ${n_all} problem(s) in ${n_headers} headers under ${INCLUDE_DIR}/llmc. "
                        "Includes must point down: ${LLMC_LAYER_RANKS}")
  endif()
  message(STATUS "llmc: ${n_headers} headers, every llmc include points to the same or a lower layer")
endif()
