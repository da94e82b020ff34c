# utf8proc (libutf8proc-dev): Unicode normalization (NFC and friends) and general categories for
# the tokenizer. Debian ships a pkg-config file only.
find_package(PkgConfig REQUIRED)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
add_library(Utf8proc::utf8proc ALIAS PkgConfig::UTF8PROC)
