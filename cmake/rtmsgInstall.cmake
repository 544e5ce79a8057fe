# rtmsgInstall.cmake -- what `cmake --install` puts under the prefix (included when RTMSG_INSTALL):
#   include/rtmsg/...                                  the headers, version.hpp among them
#   RTMSG_INSTALL_CMAKEDIR (share/cmake/rtmsg)
#     rtmsgConfig.cmake, rtmsgConfigVersion.cmake      find_package(rtmsg CONFIG), SameMajorVersion
#     FindAsio.cmake                                   used by the config for Asio::Asio
#     rtmsgTargets.cmake                               rtmsg::rtmsg
#     rtmsg-<component>-targets.cmake                  rtmsg::<component>, loaded only when asked for
#   RTMSG_INSTALL_PKGCONFIGDIR (share/pkgconfig)
#     rtmsg.pc, rtmsg-<component>.pc                   pkg-config --cflags --libs rtmsg [rtmsg-ssl]
include(CMakePackageConfigHelpers)

set(RTMSG_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/rtmsg" CACHE STRING
    "Where rtmsgConfig.cmake is installed, relative to the prefix")
set(RTMSG_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_DATADIR}/pkgconfig" CACHE STRING
    "Where rtmsg.pc is installed, relative to the prefix")
mark_as_advanced(RTMSG_INSTALL_CMAKEDIR RTMSG_INSTALL_PKGCONFIGDIR)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

# CMake package.  Each component gets its own export file so that the config can find the
# component's dependency first, and only for the components a host asks for.
install(TARGETS rtmsg EXPORT rtmsgTargets)
install(EXPORT rtmsgTargets NAMESPACE rtmsg:: DESTINATION "${RTMSG_INSTALL_CMAKEDIR}")
foreach(_rtmsg_comp IN LISTS _rtmsg_components)
  install(TARGETS rtmsg_${_rtmsg_comp} EXPORT rtmsg_${_rtmsg_comp}_targets)
  install(EXPORT rtmsg_${_rtmsg_comp}_targets NAMESPACE rtmsg:: FILE rtmsg-${_rtmsg_comp}-targets.cmake
          DESTINATION "${RTMSG_INSTALL_CMAKEDIR}")
endforeach()
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/rtmsgConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/rtmsgConfig.cmake" INSTALL_DESTINATION "${RTMSG_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/rtmsgConfigVersion.cmake"
  COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/rtmsgConfig.cmake" "${PROJECT_BINARY_DIR}/rtmsgConfigVersion.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/FindAsio.cmake" "${PROJECT_SOURCE_DIR}/cmake/Findhiredis.cmake"
        DESTINATION "${RTMSG_INSTALL_CMAKEDIR}")

# pkg-config.  The flags are read from the targets, so they follow rtmsg::rtmsg.  Asio ships no .pc:
# its directory is added unless it is a default include directory or the prefix's own.
if(IS_ABSOLUTE "${RTMSG_INSTALL_PKGCONFIGDIR}")
  set(RTMSG_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _rtmsg_up "/${RTMSG_INSTALL_PKGCONFIGDIR}" "/")
  string(REGEX REPLACE "/$" "" _rtmsg_up "${_rtmsg_up}")
  set(RTMSG_PC_PREFIX "\${pcfiledir}/${_rtmsg_up}") # relocatable
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(RTMSG_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(RTMSG_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

set(_rtmsg_pc_cflags "-I\${includedir}")
if(NOT Asio_INCLUDE_DIR IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES
   AND NOT Asio_INCLUDE_DIR STREQUAL "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
  string(APPEND _rtmsg_pc_cflags " -I${Asio_INCLUDE_DIR}")
endif()
foreach(_rtmsg_tgt IN ITEMS Asio::Asio rtmsg)
  get_target_property(_rtmsg_defs ${_rtmsg_tgt} INTERFACE_COMPILE_DEFINITIONS)
  foreach(_rtmsg_def IN LISTS _rtmsg_defs)
    if(_rtmsg_def AND NOT _rtmsg_def MATCHES "[$<>]") # no generator expressions
      string(APPEND _rtmsg_pc_cflags " -D${_rtmsg_def}")
    endif()
  endforeach()
endforeach()
if(CMAKE_THREAD_LIBS_INIT STREQUAL "-pthread")
  string(APPEND _rtmsg_pc_cflags " -pthread")
endif()

set(RTMSG_PC_NAME rtmsg)
set(RTMSG_PC_DESCRIPTION "${PROJECT_DESCRIPTION} (standalone Asio headers on the include path)")
set(RTMSG_PC_REQUIRES "simdjson >= ${RTMSG_SIMDJSON_MIN_VERSION}")
set(RTMSG_PC_CFLAGS "${_rtmsg_pc_cflags}")
set(RTMSG_PC_LIBS "${CMAKE_THREAD_LIBS_INIT}")
configure_file("${PROJECT_SOURCE_DIR}/cmake/rtmsg.pc.in" "${PROJECT_BINARY_DIR}/pkgconfig/rtmsg.pc" @ONLY)
set(_rtmsg_pc_files "${PROJECT_BINARY_DIR}/pkgconfig/rtmsg.pc")

# One .pc per component, requiring rtmsg and the component's dependency.
set(_rtmsg_pc_requires_ssl "openssl >= 1.1")
set(_rtmsg_pc_requires_deflate "zlib")
set(_rtmsg_pc_requires_redis "hiredis")
foreach(_rtmsg_comp IN LISTS _rtmsg_components)
  set(RTMSG_PC_NAME rtmsg-${_rtmsg_comp})
  set(RTMSG_PC_DESCRIPTION "rtmsg::${_rtmsg_comp} (${_rtmsg_pc_requires_${_rtmsg_comp}})")
  set(RTMSG_PC_REQUIRES "rtmsg = ${PROJECT_VERSION}, ${_rtmsg_pc_requires_${_rtmsg_comp}}")
  set(RTMSG_PC_CFLAGS "")
  if(_rtmsg_comp STREQUAL "deflate")
    set(RTMSG_PC_CFLAGS "-DRTMSG_HAS_ZLIB=1") # as the CMake target: streams then include zlib's engine
  endif()
  if(_rtmsg_comp STREQUAL "ssl")
    set(RTMSG_PC_CFLAGS "-DRTMSG_HAS_OPENSSL=1") # as the CMake target: <rtmsg/src.hpp> compiles TLS too
  endif()
  set(RTMSG_PC_LIBS "")
  configure_file("${PROJECT_SOURCE_DIR}/cmake/rtmsg.pc.in"
                 "${PROJECT_BINARY_DIR}/pkgconfig/rtmsg-${_rtmsg_comp}.pc" @ONLY)
  list(APPEND _rtmsg_pc_files "${PROJECT_BINARY_DIR}/pkgconfig/rtmsg-${_rtmsg_comp}.pc")
endforeach()
install(FILES ${_rtmsg_pc_files} DESTINATION "${RTMSG_INSTALL_PKGCONFIGDIR}")
