# Oniguruma (libonig-dev): the regex engine the Rust tokenizers library uses, so pre-tokenizer
# regexes behave identically. Debian ships a pkg-config file only.
find_package(PkgConfig REQUIRED)
pkg_check_modules(ONIG REQUIRED IMPORTED_TARGET oniguruma)
add_library(Onig::onig ALIAS PkgConfig::ONIG)
