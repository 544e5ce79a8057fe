# rtmsg is header-only: one configure and install, no debug build, nothing under lib/.
set(VCPKG_BUILD_TYPE release)

# This overlay port builds the rtmsg checkout it lives in (packaging/vcpkg/ports/rtmsg/../../../..).
# In a registry the source comes from the release tag instead:
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/rtmsg REF "v${VERSION}" SHA512 <sha512>
#                     HEAD_REF main)
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
    FEATURES
        ssl     RTMSG_WITH_OPENSSL
        deflate RTMSG_WITH_ZLIB
        redis   RTMSG_WITH_HIREDIS
)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        ${FEATURE_OPTIONS}
        -DRTMSG_BUILD_TESTS=OFF
        -DRTMSG_BUILD_EXAMPLES=OFF
        -DRTMSG_BUILD_BENCH=OFF
        -DRTMSG_INSTALL=ON
        -DRTMSG_INSTALL_CMAKEDIR=share/rtmsg
        -DRTMSG_INSTALL_PKGCONFIGDIR=share/pkgconfig
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup()
vcpkg_fixup_pkgconfig()

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
