#pragma once
// The end of every tool's main(), one copy: whatever escapes the tool's body becomes one line on
// stderr and an exit code, never an abort. No LibTorch here (bagnet-models does not link it).
#include <exception>
#include <iostream>
#include <string>

#include "lib/error.h"

namespace bagnet::cli {

// A usage error: the tool reports it as "TOOL: what: why" with exit code 2.
struct UsageError : Error {
  using Error::Error;
};

// f(), with any bagnet::Error it throws turned into a UsageError (a bad flag value found by the
// library, e.g. an unknown class name or a malformed --shard).
template <class F>
auto as_usage_error(F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw UsageError(e.path(), e.reason());
  }
}

// Thrown out of a tool's nested runs to end the tool with this exit code (its message already
// printed), e.g. after a SIGINT/SIGTERM report.
struct ExitWith {
  int code;
};

// body()'s exit code; UsageError -> 2; bagnet::Error (bad input: "file: reason") -> 1; any other
// exception -> 1 with "internal error" (a bug or a LibTorch error; c10 errors append a multi-line
// backtrace, so only the first line is printed).
template <class Body>
int guarded_main(const char* tool, Body&& body) {
  try {
    return body();
  } catch (const ExitWith& e) {
    return e.code;
  } catch (const UsageError& e) {
    std::cerr << tool << ": " << e.what() << "\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << tool << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    std::cerr << tool << ": internal error: " << what.substr(0, what.find('\n')) << "\n";
    return 1;
  }
}

}  // namespace bagnet::cli
