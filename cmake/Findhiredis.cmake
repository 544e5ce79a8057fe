# Findhiredis.cmake -- hiredis::hiredis for rtmsg::redis.
#
# Uses hiredis's own CMake package when there is one (vcpkg, Conan, hiredis >= 1.0 installs),
# else pkg-config (Debian's libhiredis-dev 0.14 ships only hiredis.pc).  Sets hiredis_FOUND.
if(TARGET hiredis::hiredis)
  set(hiredis_FOUND TRUE)
  return()
endif()
find_package(hiredis CONFIG QUIET)
if(TARGET hiredis::hiredis)
  set(hiredis_FOUND TRUE)
  return()
endif()
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(_rtmsg_hiredis QUIET IMPORTED_TARGET hiredis)
endif()
if(_rtmsg_hiredis_FOUND)
  add_library(hiredis::hiredis INTERFACE IMPORTED)
  set_target_properties(hiredis::hiredis PROPERTIES INTERFACE_LINK_LIBRARIES PkgConfig::_rtmsg_hiredis)
  set(hiredis_VERSION "${_rtmsg_hiredis_VERSION}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(hiredis REQUIRED_VARS _rtmsg_hiredis_FOUND VERSION_VAR hiredis_VERSION)
