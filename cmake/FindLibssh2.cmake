# FindLibssh2: Debian's libssh2 ships only a pkg-config file; this module turns
# it into the imported target Libssh2::libssh2. Installed with nextprism's
# package config so that consumers' find_package(nextprism) resolves it too.
#
# Result: Libssh2_FOUND, Libssh2_VERSION, target Libssh2::libssh2.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_LIBSSH2 QUIET libssh2)
endif()

find_path(Libssh2_INCLUDE_DIR NAMES libssh2.h HINTS ${PC_LIBSSH2_INCLUDE_DIRS})
find_library(Libssh2_LIBRARY NAMES ssh2 libssh2 HINTS ${PC_LIBSSH2_LIBRARY_DIRS})

if(Libssh2_INCLUDE_DIR AND EXISTS "${Libssh2_INCLUDE_DIR}/libssh2.h")
  file(STRINGS "${Libssh2_INCLUDE_DIR}/libssh2.h" _libssh2_version_line
       REGEX "^#define[ \t]+LIBSSH2_VERSION[ \t]+\"[^\"]+\"")
  string(REGEX REPLACE ".*\"([^\"]+)\".*" "\\1" Libssh2_VERSION "${_libssh2_version_line}")
  unset(_libssh2_version_line)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Libssh2
  REQUIRED_VARS Libssh2_LIBRARY Libssh2_INCLUDE_DIR
  VERSION_VAR Libssh2_VERSION)

if(Libssh2_FOUND AND NOT TARGET Libssh2::libssh2)
  add_library(Libssh2::libssh2 UNKNOWN IMPORTED)
  set_target_properties(Libssh2::libssh2 PROPERTIES
    IMPORTED_LOCATION "${Libssh2_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Libssh2_INCLUDE_DIR}")
endif()
mark_as_advanced(Libssh2_INCLUDE_DIR Libssh2_LIBRARY)
