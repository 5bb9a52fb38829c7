// libpmem's NVDIMM helpers (libndctl, libdaxctl) load only when libpmem
// calls into them (nvm/ndctl_on_demand.cpp).
#include <daxctl/libdaxctl.h>
#include <doctest/doctest.h>
#include <ndctl/libndctl.h>

#include "nvm/ndctl_on_demand.h"
#include "nvm/store.h"
#include "temp_nvm.h"

using namespace hsls;

TEST_CASE("a regular NVM file is mapped without libndctl; the first call into it loads it") {
  TempNvm nvm("ndctl");
  {
    nvm::Store store(nvm.path, 16 << 20, 1, true, false);  // pmem_map_file, pmem_is_pmem, flushes
    CHECK(store.formatted());
    store.persist().fence();
  }
  CHECK_FALSE(nvm::ndctl_loaded());

  ndctl_ctx* ctx = nullptr;
  int rc = ndctl_new(&ctx);  // the forwarder, as libpmem would call it for a Device DAX
  CHECK(nvm::ndctl_loaded());
  if (rc == 0) {
    REQUIRE(ctx != nullptr);
    // Walking the buses goes through the real library too (none on most hosts).
    for (ndctl_bus* bus = ndctl_bus_get_first(ctx); bus; bus = ndctl_bus_get_next(bus))
      for (ndctl_region* r = ndctl_region_get_first(bus); r; r = ndctl_region_get_next(r)) CHECK(ndctl_region_get_id(r) < 1u << 20);
    CHECK(ndctl_unref(ctx) == nullptr);
  } else {
    CHECK(rc < 0);  // refused by the real library (no sysfs support), not by a missing one
    CHECK(rc != -ENOSYS);
  }
}
