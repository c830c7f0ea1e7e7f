// Catch2's main(), built once and shared by every Catch2 test program.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
