// stockctl: command-line client for stockd's HTTP API. See docs/stockctl.md.
#include <iostream>

#include "apps/stockctl/stockctl.h"

int main(int argc, char** argv) { return stockctl::run(argc, argv, std::cout, std::cerr); }
