// uc_probe OUT: runs the probes of the Unicorn this tool links (the static
// library vmm links too) and writes their answers to OUT as a C++ header
// (uc_probe.h). A failed probe is written down, not fatal: vmm refuses that
// library by name when it needs the answer, as before.
#include <cstdio>
#include <fstream>

#include "vmm/accel/tcg/uc_probe.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: uc_probe OUT\n");
    return 2;
  }
  std::ofstream out(argv[1], std::ios::trunc);
  out << hsls::accel::tcg::uc_probed_header(hsls::accel::tcg::run_uc_probes());
  out.close();
  if (!out) {
    std::fprintf(stderr, "uc_probe: cannot write %s\n", argv[1]);
    return 1;
  }
  return 0;
}
