#!/usr/bin/python3
"""Checks the vcpkg port and the Conan recipe as far as possible without vcpkg and Conan.

Usage: recipes.py SOURCE_DIR WORK_DIR [CXX]

- vcpkg: the port's manifest (version = project(VERSION), dependencies, features = the CMake
  package's components), its portfile (the vcpkg_cmake_* calls, every -D option exists in our
  CMake), the usage file; then the portfile's configure is replayed with CMake: the same options,
  a package manager's asio::asio (as vcpkg's asio port defines it), install into the layout vcpkg
  expects (share/rtmsg, share/pkgconfig), and a find_package(rtmsg COMPONENTS ssl) probe of it; again
  with the redis feature, hiredis::hiredis from a package manager's hiredis-config.cmake.
  A feature that is not implemented yet (deflate) must fail the configure with a clear message.
- Conan: conanfile.py and test_package/conanfile.py run against a small stand-in for the `conan`
  Python API (set_version, requirements, validate, generate, package_info for each option set);
  then the recipe's exports_sources alone are configured with generate()'s cache variables and
  CMAKE_FIND_PACKAGE_PREFER_CONFIG=ON (as Conan's toolchain sets it) and installed, as package() does
  (defaults, and with_hiredis=True).
Prints one line per check and a final "N passed, M failed".
"""
import fnmatch
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import types

sys.dont_write_bytecode = True  # loading the recipes must not leave __pycache__ in the source tree
SOURCE = pathlib.Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else None
WORK = pathlib.Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else None
CXX = sys.argv[3] if len(sys.argv) > 3 else None
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print(f"ok   {name}")
    else:
        results["failed"] += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))
    return ok


def cmake_options():
    """Every option() and cache variable our CMake code declares."""
    names = set()
    for f in [SOURCE / "CMakeLists.txt", *sorted((SOURCE / "cmake").glob("*.cmake"))]:
        text = f.read_text()
        names.update(re.findall(r"option\((RTMSG_\w+)", text))
        names.update(re.findall(r"set\((RTMSG_\w+)\s[^)]*\bCACHE\b", text))
    return names


def project_version():
    m = re.search(r"project\(rtmsg\s+VERSION\s+(\d+\.\d+\.\d+)", (SOURCE / "CMakeLists.txt").read_text())
    return m.group(1)


def package_components():
    text = (SOURCE / "cmake" / "rtmsgConfig.cmake.in").read_text()
    return re.search(r"set\(_rtmsg_known_components ([\w ]+)\)", text).group(1).split()


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def fake_package_manager_asio(prefix: pathlib.Path):
    """An asio-config.cmake defining asio::asio, as vcpkg's asio port and Conan's CMakeDeps do."""
    probe = run(["sh", "-c", "echo '#include <asio/version.hpp>' | ${CXX:-c++} -x c++ -E -M -"],
                env={**os.environ, **({"CXX": CXX} if CXX else {})})
    m = re.search(r"(\S+)/asio/version\.hpp", probe.stdout)
    include = m.group(1) if m else "/usr/include"
    d = prefix / "share" / "asio"
    d.mkdir(parents=True, exist_ok=True)
    (d / "asio-config.cmake").write_text(
        "if(NOT TARGET asio::asio)\n"
        "  add_library(asio::asio INTERFACE IMPORTED)\n"
        f"  set_target_properties(asio::asio PROPERTIES INTERFACE_INCLUDE_DIRECTORIES \"{include}\"\n"
        "                        INTERFACE_COMPILE_DEFINITIONS ASIO_STANDALONE)\n"
        "endif()\n"
        f"set(ASIO_INCLUDE_DIR \"{include}\")\n")
    return prefix


def fake_package_manager_hiredis(prefix: pathlib.Path):
    """A hiredis-config.cmake defining hiredis::hiredis, as vcpkg's hiredis port and Conan's CMakeDeps do
    (here over the system's libhiredis)."""
    d = prefix / "share" / "hiredis"
    d.mkdir(parents=True, exist_ok=True)
    (d / "hiredis-config.cmake").write_text(
        "if(NOT TARGET hiredis::hiredis)\n"
        "  find_library(PM_HIREDIS_LIBRARY hiredis)\n"
        "  find_path(PM_HIREDIS_INCLUDE_DIR hiredis/hiredis.h)\n"
        "  add_library(hiredis::hiredis UNKNOWN IMPORTED)\n"
        "  set_target_properties(hiredis::hiredis PROPERTIES IMPORTED_LOCATION \"${PM_HIREDIS_LIBRARY}\"\n"
        "                        INTERFACE_INCLUDE_DIRECTORIES \"${PM_HIREDIS_INCLUDE_DIR}\")\n"
        "endif()\n")
    return prefix


def configure(src, build, defs, extra=()):
    cmd = ["cmake", "-S", str(src), "-B", str(build), "-G", "Ninja"]
    if CXX:
        cmd.append(f"-DCMAKE_CXX_COMPILER={CXX}")
    cmd += [f"-D{k}={v}" for k, v in defs.items()] + list(extra)
    return run(cmd)


# ----------------------------------------------------------------------------------------- vcpkg
def check_vcpkg(pm_prefix):
    port = SOURCE / "packaging" / "vcpkg" / "ports" / "rtmsg"
    manifest = json.loads((port / "vcpkg.json").read_text())
    portfile = (port / "portfile.cmake").read_text()
    options = cmake_options()
    check("vcpkg: port name rtmsg, version = project(VERSION)",
          manifest.get("name") == "rtmsg" and manifest.get("version") == project_version(),
          f"{manifest.get('name')} {manifest.get('version')} vs {project_version()}")
    deps = {d if isinstance(d, str) else d["name"]: d for d in manifest.get("dependencies", [])}
    host_ok = all(isinstance(deps.get(h), dict) and deps[h].get("host") for h in ("vcpkg-cmake", "vcpkg-cmake-config"))
    check("vcpkg: depends on asio, simdjson and the host ports vcpkg-cmake(-config)",
          "asio" in deps and "simdjson" in deps and host_ok, str(list(deps)))
    check("vcpkg: manifest declares a license field", "license" in manifest)
    features = manifest.get("features", {})
    check("vcpkg: features = the CMake package's components",
          sorted(features) == sorted(package_components()), f"{sorted(features)} vs {package_components()}")
    feature_deps = {f: {d if isinstance(d, str) else d["name"] for d in v.get("dependencies", [])}
                    for f, v in features.items()}
    descriptions = {f: v.get("description", "") for f, v in features.items()}
    check("vcpkg: feature descriptions: redis and deflate implemented",
          all("not implemented" not in descriptions.get(f, "not implemented")
              and f"rtmsg::{f}" in descriptions.get(f, "") for f in ("redis", "deflate")), str(descriptions))
    check("vcpkg: ssl needs openssl, deflate zlib, redis hiredis",
          "openssl" in feature_deps.get("ssl", ()) and "zlib" in feature_deps.get("deflate", ())
          and "hiredis" in feature_deps.get("redis", ()), str(feature_deps))
    mapping = dict(re.findall(r"^\s+(\w+)\s+(RTMSG_\w+)\s*$", portfile, re.M))
    check("vcpkg: every feature maps to an RTMSG_WITH_* option (vcpkg_check_features)",
          sorted(mapping) == sorted(features) and all(o in options for o in mapping.values()), str(mapping))
    for call in ("set(VCPKG_BUILD_TYPE release)", "vcpkg_cmake_configure(", "vcpkg_cmake_install()",
                 "vcpkg_cmake_config_fixup(", "vcpkg_fixup_pkgconfig(", "vcpkg_install_copyright(",
                 '"${CMAKE_CURRENT_LIST_DIR}/usage"'):
        check(f"vcpkg: portfile has {call}", call in portfile)
    port_defs = dict(re.findall(r"-D(RTMSG_\w+)=(\S+)", portfile))
    check("vcpkg: every -D option of the portfile exists in rtmsg's CMake",
          all(k in options for k in port_defs), str(sorted(set(port_defs) - options)))
    usage = (port / "usage").read_text()
    check("vcpkg: usage shows find_package(rtmsg CONFIG REQUIRED) and the targets",
          "find_package(rtmsg CONFIG REQUIRED" in usage and "rtmsg::rtmsg" in usage and "rtmsg::ssl" in usage
          and "rtmsg::redis" in usage)
    root = json.loads((SOURCE / "vcpkg.json").read_text())
    root_deps = {d if isinstance(d, str) else d["name"] for d in root.get("dependencies", [])}
    check("vcpkg: root manifest lists asio, simdjson, openssl", {"asio", "simdjson", "openssl"} <= root_deps,
          str(root_deps))

    # Replay the portfile: default features (ssl) on, the others off.
    defs = {opt: "ON" if feat in manifest.get("default-features", []) else "OFF" for feat, opt in mapping.items()}
    defs.update(port_defs)
    defs.update({"CMAKE_BUILD_TYPE": "Release", "CMAKE_PREFIX_PATH": str(pm_prefix)})
    build, installed = WORK / "vcpkg-build", WORK / "vcpkg-installed"
    r = configure(SOURCE, build, defs)
    ok = r.returncode == 0
    if ok:
        r = run(["cmake", "--install", str(build), "--prefix", str(installed)])
        ok = r.returncode == 0
    check("vcpkg: the portfile's configure and install (default features)", ok, (r.stdout + r.stderr)[-2000:])
    layout = [installed / "share/rtmsg/rtmsgConfig.cmake", installed / "share/rtmsg/rtmsg-ssl-targets.cmake",
              installed / "share/pkgconfig/rtmsg.pc", installed / "include/rtmsg/version.hpp"]
    check("vcpkg: installed in vcpkg's layout (share/rtmsg, share/pkgconfig)", all(p.exists() for p in layout),
          str([str(p) for p in layout if not p.exists()]))
    r = configure(SOURCE / "tests/package/probe", WORK / "vcpkg-probe",
                  {"CMAKE_PREFIX_PATH": f"{installed};{pm_prefix}", "PROBE_VERSION": "0.1",
                   "PROBE_ARGS": "COMPONENTS;ssl", "PROBE_EXPECT": "ssl;asio-wraps-asio"})
    check("vcpkg: find_package(rtmsg CONFIG COMPONENTS ssl) on it, Asio::Asio wrapping asio::asio",
          r.returncode == 0, (r.stdout + r.stderr)[-2000:])
    redis = dict(defs, RTMSG_WITH_HIREDIS="ON")
    build, installed = WORK / "vcpkg-build-redis", WORK / "vcpkg-installed-redis"
    r = configure(SOURCE, build, redis)
    ok = r.returncode == 0
    if ok:
        r = run(["cmake", "--install", str(build), "--prefix", str(installed)])
        ok = r.returncode == 0
    check("vcpkg: the portfile's configure and install with the redis feature (RTMSG_WITH_HIREDIS=ON)", ok,
          (r.stdout + r.stderr)[-2000:])
    layout = [installed / "share/rtmsg/rtmsg-redis-targets.cmake", installed / "share/rtmsg/Findhiredis.cmake",
              installed / "share/pkgconfig/rtmsg-redis.pc", installed / "include/rtmsg/cluster/redis.hpp"]
    check("vcpkg: redis installed (rtmsg-redis-targets.cmake, Findhiredis.cmake, rtmsg-redis.pc)",
          all(p.exists() for p in layout), str([str(p) for p in layout if not p.exists()]))
    r = configure(SOURCE / "tests/package/probe", WORK / "vcpkg-probe-redis",
                  {"CMAKE_PREFIX_PATH": f"{installed};{pm_prefix}", "PROBE_VERSION": "0.1",
                   "PROBE_ARGS": "COMPONENTS;ssl;redis", "PROBE_EXPECT": "ssl;redis;hiredis-config;asio-wraps-asio"})
    check("vcpkg: find_package(rtmsg CONFIG COMPONENTS ssl redis) on it, hiredis::hiredis from hiredis-config.cmake",
          r.returncode == 0, (r.stdout + r.stderr)[-2000:])
    deflate = dict(defs, RTMSG_WITH_ZLIB="ON")
    r = configure(SOURCE, WORK / "vcpkg-build-deflate", deflate)
    check("vcpkg: feature deflate configures (RTMSG_WITH_ZLIB=ON, zlib found)",
          r.returncode == 0, (r.stdout + r.stderr)[-1000:])


# ----------------------------------------------------------------------------------------- Conan
class _Opts:
    def __init__(self, values):
        self.__dict__.update(values)

    def get_safe(self, name, default=None):
        return self.__dict__.get(name, default)


class _Settings:
    def __init__(self, os_="Linux", compiler="gcc", version="12"):
        self.os, self.compiler = os_, compiler
        self.compiler_version = version

    def __getattr__(self, name):
        raise AttributeError(name)

    def get_safe(self, name, default=None):
        return {"compiler.cppstd": None, "compiler.version": self.compiler_version}.get(name, default)


class _Compiler(str):
    pass


class _CppInfo:
    def __init__(self):
        self.properties, self.requires, self.defines, self.system_libs = {}, [], [], []
        self.bindirs, self.libdirs, self.includedirs = ["bin"], ["lib"], ["include"]
        self.components = _Components()

    def set_property(self, key, value):
        self.properties[key] = value


class _Components(dict):
    def __missing__(self, key):
        self[key] = _CppInfo()
        return self[key]


def conan_stub():
    """Just enough of the `conan` package for the recipes' methods to run."""
    calls = {"cppstd": [], "toolchains": []}

    class ConanInvalidConfiguration(Exception):
        pass

    class ConanFile:
        def __init__(self):
            self.version = None

        @property
        def ref(self):
            return f"{self.name}/{self.version}"

    class Version(str):
        def _t(self):
            return tuple(int(x) for x in re.findall(r"\d+", self))

        def __lt__(self, other):
            return self._t() < Version(other)._t()

    class CMakeToolchain:
        def __init__(self, conanfile):
            self.cache_variables, self.variables = {}, {}
            calls["toolchains"].append(self)

        def generate(self):
            pass

    class _Nop:
        def __init__(self, *a, **k):
            pass

        def __getattr__(self, name):
            return lambda *a, **k: None

    mods = {name: types.ModuleType(name) for name in
            ("conan", "conan.errors", "conan.tools", "conan.tools.build", "conan.tools.cmake",
             "conan.tools.files", "conan.tools.scm", "conan.tools.layout", "conan.tools.env")}
    mods["conan"].ConanFile = ConanFile
    mods["conan.errors"].ConanInvalidConfiguration = ConanInvalidConfiguration
    mods["conan.errors"].ConanException = Exception
    mods["conan.tools.build"].check_min_cppstd = lambda conanfile, v: calls["cppstd"].append(v)
    mods["conan.tools.build"].can_run = lambda conanfile: True
    mods["conan.tools.cmake"].CMake = _Nop
    mods["conan.tools.cmake"].CMakeDeps = _Nop
    mods["conan.tools.cmake"].CMakeToolchain = CMakeToolchain
    mods["conan.tools.cmake"].cmake_layout = lambda conanfile, **k: None
    mods["conan.tools.files"].copy = lambda *a, **k: None
    mods["conan.tools.files"].rmdir = lambda *a, **k: None
    mods["conan.tools.files"].load = lambda conanfile, path: pathlib.Path(path).read_text()
    mods["conan.tools.scm"].Version = Version
    mods["conan.tools.layout"].basic_layout = lambda conanfile, **k: None
    mods["conan.tools.env"].VirtualRunEnv = _Nop
    sys.modules.update(mods)
    return calls, ConanInvalidConfiguration


def load_recipe(path, calls_module_name):
    spec = importlib.util.spec_from_file_location(calls_module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == calls_module_name]
    return classes[0]


def check_conan():
    calls, Invalid = conan_stub()
    Recipe = load_recipe(SOURCE / "conanfile.py", "rtmsg_conanfile")

    def make(**opts):
        r = Recipe()
        r.recipe_folder = str(SOURCE)
        r.options = _Opts({**Recipe.default_options, **opts})
        settings = _Settings()
        settings.compiler = _Compiler("gcc")
        settings.compiler.version = "12"
        r.settings = settings
        r.cpp_info = _CppInfo()
        reqs = []
        r.requires = lambda ref, **k: reqs.append(ref)
        r.set_version()
        return r, reqs

    r, _ = make()
    check("conan: set_version() reads project(VERSION)", r.version == project_version(), str(r.version))
    check("conan: header-library, package_id cleared",
          Recipe.package_type == "header-library" and "self.info.clear()" in (SOURCE / "conanfile.py").read_text())
    check("conan: options for every component (with_openssl, with_zlib, with_hiredis)",
          set(Recipe.options) == {"with_openssl", "with_zlib", "with_hiredis"}, str(Recipe.options))

    for opts in ({}, {"with_openssl": False}, {"with_hiredis": True}, {"with_openssl": False, "with_hiredis": True}):
        r, reqs = make(**opts)
        r.requirements()
        names = {q.split("/")[0] for q in reqs}
        want = {"asio", "simdjson"} | ({"openssl"} if r.options.with_openssl else set()) \
            | ({"hiredis"} if r.options.with_hiredis else set())
        check(f"conan: requirements with {opts or 'defaults'} = {sorted(want)}", names == want, str(reqs))

        try:
            r.validate()
            accepted = True
        except Invalid as e:
            accepted = str(e)
        check(f"conan: validate() with {opts or 'defaults'} accepts it and checks C++20",
              accepted is True and calls["cppstd"][-1:] == [20], str(accepted))

        r.generate()
        tc = calls["toolchains"][-1].cache_variables
        unknown = set(tc) - cmake_options()
        check(f"conan: generate() sets only rtmsg's CMake options ({len(tc)}), RTMSG_WITH_OPENSSL/HIREDIS",
              not unknown and tc.get("RTMSG_BUILD_TESTS") is False
              and tc.get("RTMSG_WITH_OPENSSL") == r.options.with_openssl
              and tc.get("RTMSG_WITH_HIREDIS") == r.options.with_hiredis, str(unknown or tc))

        r.package_info()
        info = r.cpp_info
        comps = {name: c.properties.get("cmake_target_name") for name, c in info.components.items()}
        want = {"core": "rtmsg::rtmsg"} | ({"ssl": "rtmsg::ssl"} if r.options.with_openssl else {}) \
            | ({"redis": "rtmsg::redis"} if r.options.with_hiredis else {})
        check(f"conan: package_info() with {opts or 'defaults'}: targets {sorted(want.values())}",
              info.properties.get("cmake_file_name") == "rtmsg" and comps == want
              and info.properties.get("cmake_target_name") not in comps.values(), str(comps))
        core = info.components["core"]
        check("conan: rtmsg::rtmsg requires asio and simdjson, defines what the CMake target does",
              core.requires == ["asio::asio", "simdjson::simdjson"] and "RTMSG_HAS_SIMDJSON=1" in core.defines
              and core.libdirs == [] and core.bindirs == [], f"{core.requires} {core.defines}")
        if r.options.with_openssl:
            check("conan: rtmsg::ssl requires the core and openssl::ssl/crypto",
                  info.components["ssl"].requires == ["core", "openssl::ssl", "openssl::crypto"])
        if r.options.with_hiredis:
            redis = info.components["redis"]
            check("conan: rtmsg::redis (pkg-config rtmsg-redis) requires the core and hiredis::hiredis",
                  redis.requires == ["core", "hiredis::hiredis"]
                  and redis.properties.get("pkg_config_name") == "rtmsg-redis", str(redis.requires))

    r, reqs = make(with_zlib=True)
    r.requirements()
    try:
        r.validate()
        accepted = True
    except Invalid as e:
        accepted = str(e)
    r.generate()
    r.package_info()
    deflate = r.cpp_info.components.get("deflate") if hasattr(r.cpp_info.components, "get") else None
    check("conan: with_zlib=True requires zlib, sets RTMSG_WITH_ZLIB and gives rtmsg::deflate defining RTMSG_HAS_ZLIB",
          accepted is True and "zlib" in {q.split("/")[0] for q in reqs}
          and calls["toolchains"][-1].cache_variables.get("RTMSG_WITH_ZLIB") is True
          and deflate is not None and deflate.properties.get("cmake_target_name") == "rtmsg::deflate"
          and deflate.requires == ["core", "zlib::zlib"] and "RTMSG_HAS_ZLIB=1" in deflate.defines,
          f"{accepted} {reqs}")
    r, _ = make()
    r.settings.compiler.version = "10"
    try:
        r.validate()
        refused = False
    except Invalid:
        refused = True
    check("conan: gcc 10 is refused (C++20)", refused)
    r, _ = make()
    check("conan: optional parts of package_info() = the CMake package's components",
          set(re.findall(r'"(\w+)": \("with_', (SOURCE / "conanfile.py").read_text())) == set(package_components()))

    Test = load_recipe(SOURCE / "test_package" / "conanfile.py", "rtmsg_test_package")
    t = Test()
    t.tested_reference_str = f"rtmsg/{project_version()}"
    reqs = []
    t.requires = lambda ref, **k: reqs.append(ref)
    t.requirements()
    t.dependencies = {"rtmsg": types.SimpleNamespace(options=_Opts({"with_openssl": True}))}
    t.generate()
    check("conan: test_package requires the tested reference and passes RTMSG_TEST_SSL",
          reqs == [t.tested_reference_str] and getattr(Test, "test_type", "") == "explicit"
          and calls["toolchains"][-1].cache_variables.get("RTMSG_TEST_SSL") is True)

    # package(): configure and install the exported sources alone, with generate()'s variables.
    exported = WORK / "conan-source"
    shutil.rmtree(exported, ignore_errors=True)
    for f in SOURCE.rglob("*"):
        rel = f.relative_to(SOURCE).as_posix()
        if f.is_file() and not rel.startswith((".git/", "build")) and \
                any(fnmatch.fnmatch(rel, p) for p in Recipe.exports_sources):
            (exported / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, exported / rel)
    for opts, suffix in (({}, ""), ({"with_hiredis": True}, "-redis")):
        r, _ = make(**opts)
        r.generate()
        defs = {k: ("ON" if v else "OFF") if isinstance(v, bool) else v
                for k, v in calls["toolchains"][-1].cache_variables.items()}
        defs.update({"CMAKE_BUILD_TYPE": "Release", "CMAKE_FIND_PACKAGE_PREFER_CONFIG": "ON",
                     "CMAKE_PREFIX_PATH": str(WORK / "package-manager")})
        build, package = WORK / f"conan-build{suffix}", WORK / f"conan-package{suffix}"
        r = configure(exported, build, defs)
        ok = r.returncode == 0
        if ok:
            r = run(["cmake", "--install", str(build), "--prefix", str(package)])
            ok = r.returncode == 0
        deps = "asio::asio, hiredis::hiredis" if opts else "asio::asio"
        check(f"conan: exports_sources configure with {opts or 'defaults'} (PREFER_CONFIG, {deps}) and install",
              ok, (r.stdout + r.stderr)[-2000:])
        check(f"conan: the package with {opts or 'defaults'} holds the headers with version.hpp",
              (package / "include/rtmsg/version.hpp").exists() and (package / "include/rtmsg/server/server.hpp").exists()
              and (package / "include/rtmsg/cluster/redis.hpp").exists())


def main():
    if WORK is None:
        print(__doc__)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    pm = fake_package_manager_asio(WORK / "package-manager")
    fake_package_manager_hiredis(pm)
    if not (SOURCE / "LICENSE").exists():
        print("note the repository has no LICENSE file: vcpkg_install_copyright() and Conan's licenses/ "
              "need one, and the license fields are unset until it exists")
    check_vcpkg(pm)
    check_conan()
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
