import os
import re

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load, rmdir
from conan.tools.scm import Version

required_conan_version = ">=2.0.9"


class RtmsgConan(ConanFile):
    """Conan 2 recipe for rtmsg, kept in the rtmsg repository.

        conan create . -s compiler.cppstd=20      # gcc 12's default is gnu17; rtmsg needs C++20

    Header-only: one package for every configuration.  The options pick the optional parts,
    and with them the requirements and the components; the headers are the same for all.
    The version ranges are the ones tested (README, Packaging): Asio 1.22.1 to the newest,
    simdjson 3.0.1 to 4.x.
    """

    name = "rtmsg"
    description = ("Header-only C++20 real-time messaging: RFC 6455 WebSocket and Server-Sent Events "
                   "endpoints and pub/sub for standalone Asio servers")
    license = "BSL-1.0"
    url = "https://github.com/rtmsg/rtmsg"
    homepage = "https://github.com/rtmsg/rtmsg"
    topics = ("websocket", "server-sent-events", "sse", "pubsub", "asio", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "with_openssl": [True, False],  # rtmsg::ssl (wss://, https://)
        "with_zlib": [True, False],     # rtmsg::deflate (permessage-deflate)
        "with_hiredis": [True, False],  # rtmsg::redis (hubs on several nodes share topics through Redis)
    }
    default_options = {
        "with_openssl": True,
        "with_zlib": False,
        "with_hiredis": False,
    }
    # Options whose component is declared but not in the sources yet: asking for one is refused.
    _unimplemented = {}
    exports_sources = "CMakeLists.txt", "cmake/*", "include/*", "LICENSE*"
    no_copy_source = True

    @property
    def _min_cppstd(self):
        return 20

    @property
    def _compilers_minimum_version(self):
        return {
            "gcc": "11",
            "clang": "13",
            "apple-clang": "14",
            "msvc": "193",
        }

    def set_version(self):
        # The version lives in one place: project(rtmsg VERSION x.y.z) in CMakeLists.txt.
        if self.version:
            return
        cmakelists = load(self, os.path.join(self.recipe_folder, "CMakeLists.txt"))
        match = re.search(r"project\(\s*rtmsg\s+VERSION\s+(\d+\.\d+\.\d+)", cmakelists)
        if not match:
            raise ConanInvalidConfiguration("no project(rtmsg VERSION x.y.z) in CMakeLists.txt")
        self.version = match.group(1)

    def layout(self):
        cmake_layout(self, src_folder=".")

    def requirements(self):
        # transitive_headers: rtmsg's headers include Asio's and simdjson's, so consumers compile them.
        self.requires("asio/[>=1.22.1 <2]", transitive_headers=True)
        self.requires("simdjson/[>=3.0.1 <5]", transitive_headers=True, transitive_libs=True)
        if self.options.with_openssl:
            self.requires("openssl/[>=1.1 <4]")
        if self.options.with_zlib:
            self.requires("zlib/[>=1.2.11 <2]")
        if self.options.with_hiredis:
            self.requires("hiredis/[>=1.0.0 <2]", transitive_headers=True, transitive_libs=True)

    def package_id(self):
        self.info.clear()

    def validate(self):
        check_min_cppstd(self, self._min_cppstd)
        minimum_version = self._compilers_minimum_version.get(str(self.settings.compiler), False)
        if minimum_version and Version(self.settings.compiler.version) < minimum_version:
            raise ConanInvalidConfiguration(
                f"{self.ref} requires C++{self._min_cppstd}, which your compiler does not support.")
        for option, what in self._unimplemented.items():
            if self.options.get_safe(option):
                raise ConanInvalidConfiguration(f"{self.ref} does not implement {what} yet: set {option}=False")

    def generate(self):
        tc = CMakeToolchain(self)
        tc.cache_variables["RTMSG_BUILD_TESTS"] = False
        tc.cache_variables["RTMSG_BUILD_EXAMPLES"] = False
        tc.cache_variables["RTMSG_BUILD_BENCH"] = False
        tc.cache_variables["RTMSG_INSTALL"] = True
        tc.cache_variables["RTMSG_WITH_OPENSSL"] = bool(self.options.with_openssl)
        tc.cache_variables["RTMSG_WITH_ZLIB"] = bool(self.options.with_zlib)
        tc.cache_variables["RTMSG_WITH_HIREDIS"] = bool(self.options.with_hiredis)
        tc.generate()
        deps = CMakeDeps(self)
        deps.generate()

    def build(self):
        # Nothing to compile; configuring checks the dependencies and the version header.
        cmake = CMake(self)
        cmake.configure()

    def package(self):
        copy(self, "LICENSE*", src=self.source_folder, dst=os.path.join(self.package_folder, "licenses"))
        cmake = CMake(self)
        cmake.install()
        # CMakeDeps and PkgConfigDeps generate these from package_info() for consumers.
        rmdir(self, os.path.join(self.package_folder, "share"))

    def package_info(self):
        # The targets of rtmsg's own CMake package: rtmsg::rtmsg (the core) and one target per
        # optional part.  CMakeDeps also makes a root target aggregating every component, named
        # rtmsg::rtmsg by default; with optional parts on, that name would link them all (and
        # itself), so the root then gets the unofficial name conan-center-index uses for this
        # (as its hiredis recipe does): rtmsg::rtmsg_all_unofficial, not meant to be linked.
        self.cpp_info.set_property("cmake_file_name", "rtmsg")
        if any(self.options.get_safe(option) for option in ("with_openssl", "with_zlib", "with_hiredis")):
            self.cpp_info.set_property("cmake_target_name", "rtmsg::rtmsg_all_unofficial")
            self.cpp_info.set_property("pkg_config_name", "rtmsg_all_unofficial")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []

        core = self.cpp_info.components["core"]
        core.set_property("cmake_target_name", "rtmsg::rtmsg")
        core.set_property("pkg_config_name", "rtmsg")
        core.requires = ["asio::asio", "simdjson::simdjson"]
        core.defines = ["ASIO_STANDALONE", "RTMSG_HAS_SIMDJSON=1"]
        core.bindirs = []
        core.libdirs = []
        if self.settings.os in ["Linux", "FreeBSD"]:
            core.system_libs = ["pthread"]

        optional = {
            "ssl": ("with_openssl", ["openssl::ssl", "openssl::crypto"]),
            "deflate": ("with_zlib", ["zlib::zlib"]),
            "redis": ("with_hiredis", ["hiredis::hiredis"]),
        }
        for component, (option, requires) in optional.items():
            if not self.options.get_safe(option):
                continue
            comp = self.cpp_info.components[component]
            comp.set_property("cmake_target_name", f"rtmsg::{component}")
            comp.set_property("pkg_config_name", f"rtmsg-{component}")
            comp.requires = ["core"] + requires
            if component == "deflate":
                comp.defines = ["RTMSG_HAS_ZLIB=1"]  # as the CMake target
            if component == "ssl":
                comp.defines = ["RTMSG_HAS_OPENSSL=1"]  # as the CMake target (separate compilation)
            comp.bindirs = []
            comp.libdirs = []
