// The skiff binary: everything is in the modules; see src/cli.
#include "cli/cli.hpp"

int main(int argc, char** argv) { return skiff::cli::Main(argc, argv); }
