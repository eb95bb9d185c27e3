# The library's INTERFACE targets. llmc::llmc needs only the standard library; each optional
# component is its own target so a consumer pays only for what it asks for.
include_guard(GLOBAL)

add_library(llmc INTERFACE)
add_library(llmc::llmc ALIAS llmc)
target_include_directories(llmc INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(llmc INTERFACE cxx_std_20)
target_link_libraries(llmc INTERFACE Threads::Threads)
set(LLMC_EXPORTED_TARGETS llmc)

# llmc::io — safetensors, config.json and compressed-tensors checkpoints (needs nlohmann-json).
if(nlohmann_json_FOUND)
  add_library(llmc_io INTERFACE)
  add_library(llmc::io ALIAS llmc_io)
  set_target_properties(llmc_io PROPERTIES EXPORT_NAME io)
  target_link_libraries(llmc_io INTERFACE llmc nlohmann_json::nlohmann_json)
  list(APPEND LLMC_EXPORTED_TARGETS llmc_io)
endif()
# llmc::eigen — the Eigen tensor adapter.
if(Eigen3_FOUND)
  add_library(llmc_eigen INTERFACE)
  add_library(llmc::eigen ALIAS llmc_eigen)
  set_target_properties(llmc_eigen PROPERTIES EXPORT_NAME eigen)
  target_link_libraries(llmc_eigen INTERFACE llmc Eigen3::Eigen)
  list(APPEND LLMC_EXPORTED_TARGETS llmc_eigen)
endif()
# llmc::xtensor — the xtensor adapter.
if(xtensor_FOUND)
  add_library(llmc_xtensor INTERFACE)
  add_library(llmc::xtensor ALIAS llmc_xtensor)
  set_target_properties(llmc_xtensor PROPERTIES EXPORT_NAME xtensor)
  target_link_libraries(llmc_xtensor INTERFACE llmc xtensor)
  list(APPEND LLMC_EXPORTED_TARGETS llmc_xtensor)
endif()
# llmc::native — opt-in: tune for the building machine (never forced on consumers).
add_library(llmc_native INTERFACE)
add_library(llmc::native ALIAS llmc_native)
set_target_properties(llmc_native PROPERTIES EXPORT_NAME native)
target_compile_options(llmc_native INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
list(APPEND LLMC_EXPORTED_TARGETS llmc_native)
include(llmcBlas)
# llmc::text — tokenizer.json BPE (needs llmc::io for JSON, PCRE2 and utf8proc).
if(TARGET llmc_io AND LLMC_PCRE2_LIBRARY AND LLMC_UTF8PROC_LIBRARY)
  add_library(llmc_text INTERFACE)
  add_library(llmc::text ALIAS llmc_text)
  set_target_properties(llmc_text PROPERTIES EXPORT_NAME text)
  target_link_libraries(llmc_text INTERFACE llmc_io pcre2-8 utf8proc)
  list(APPEND LLMC_EXPORTED_TARGETS llmc_text)
endif()
# llmc::pipeline — recipes (YAML through yaml-cpp), the sequential pipeline, oneshot().
if(TARGET llmc_io AND TARGET yaml-cpp)
  add_library(llmc_pipeline INTERFACE)
  add_library(llmc::pipeline ALIAS llmc_pipeline)
  set_target_properties(llmc_pipeline PROPERTIES EXPORT_NAME pipeline)
  target_link_libraries(llmc_pipeline INTERFACE llmc_io yaml-cpp)
  if(TARGET llmc_text)
    target_link_libraries(llmc_pipeline INTERFACE llmc_text)
  endif()
  list(APPEND LLMC_EXPORTED_TARGETS llmc_pipeline)
endif()
