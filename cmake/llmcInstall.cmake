# install(EXPORT) + llmcConfig.cmake + an architecture-independent version file.
include_guard(GLOBAL)
include(CMakePackageConfigHelpers)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/llmc" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS ${LLMC_EXPORTED_TARGETS} EXPORT llmcTargets)
set(LLMC_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/llmc")
install(EXPORT llmcTargets NAMESPACE llmc:: DESTINATION "${LLMC_CMAKE_DIR}")
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/llmcConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/llmcConfig.cmake" INSTALL_DESTINATION "${LLMC_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/llmcConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/llmcConfig.cmake" "${PROJECT_BINARY_DIR}/llmcConfigVersion.cmake"
  DESTINATION "${LLMC_CMAKE_DIR}")
