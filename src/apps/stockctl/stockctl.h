// stockctl.h: the whole CLI as one function, so that tests can run it in-process.
// argv[0] is the program name. Output goes to `out`, messages to `err`; the result is the exit code
// (client/api_error.h lists them).
#pragma once
#include <ostream>

namespace stockctl {

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace stockctl
