// Placeholder: tests of evaluation/plots (being written).
#include <catch2/catch.hpp>
