#pragma once
// skiff_cli: the `skiff` command. Parses the command line (CLI11), loads settings and runs
// `up` (the server) or a client command. Depends on every other module; nothing depends on it.

namespace skiff::cli {

int Main(int argc, char** argv);

}  // namespace skiff::cli
