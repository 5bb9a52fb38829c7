// libpmem's calls into libndctl and libdaxctl, loaded the first time one is made.
//
// libpmem asks these libraries only about NVDIMM namespaces: a Device DAX's
// size and alignment, a region's id and NUMA node. A regular NVM file never
// needs them, yet the shared libpmem names them in DT_NEEDED and the loader
// brings in eight libraries before main() (libndctl -> libkmod -> libcrypto,
// libudev, libzstd, liblzma...): 4-6 ms of every vmm start on a PVM host,
// where recovery time counts from exec. So vmm links libpmem's static archive
// and defines the 22 functions it calls; each forwards to the real library,
// which dlopen brings in on the first call. The declarations come from the
// libraries' own headers, so a definition that disagrees does not compile.
#include <daxctl/libdaxctl.h>
#include <dlfcn.h>
#include <ndctl/libndctl.h>

#include <cerrno>
#include <mutex>

#include "vmm/core/log.h"
#include "nvm/ndctl_on_demand.h"

namespace hsls::nvm {
namespace {

// A shared library opened at the first lookup of one of its symbols.
class OnDemandLibrary {
 public:
  // constexpr: set before any constructor runs, libpmem's included.
  constexpr explicit OnDemandLibrary(const char* soname) : soname_(soname) {}

  // Returns the address of `name`, or null (logged once) if the library or
  // the symbol cannot be found.
  template <typename Fn>
  Fn symbol(const char* name) {
    void* handle = open();
    void* address = handle ? dlsym(handle, name) : nullptr;
    if (handle && !address) log::get("nvm")->error("{} has no {}: {}", soname_, name, dlerror());
    return reinterpret_cast<Fn>(address);
  }

  // Opens the library once; later calls return the same handle (or null).
  void* open() {
    std::call_once(opened_, [this] {
      handle_ = dlopen(soname_, RTLD_NOW | RTLD_LOCAL);
      if (!handle_) log::get("nvm")->error("cannot load {} for libpmem: {}", soname_, dlerror());
    });
    return handle_;
  }

 private:
  const char* soname_;
  std::once_flag opened_;
  void* handle_ = nullptr;
};

OnDemandLibrary g_ndctl("libndctl.so.6");
OnDemandLibrary g_daxctl("libdaxctl.so.1");

}  // namespace

// True once libndctl has been loaded into this process, by us or anyone.
bool ndctl_loaded() {
  void* handle = dlopen("libndctl.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (handle) dlclose(handle);
  return handle != nullptr;
}

}  // namespace hsls::nvm

// Defines NAME (declared by the library's header) to call the same function
// in LIBRARY, or to return FALLBACK when the library cannot be loaded. Only
// ndctl_new can be reached without a context, so only its fallback matters:
// libpmem reports that error and the namespace query fails, as it would with
// no NVDIMM support at all.
#define HSLS_ON_DEMAND(LIBRARY, FALLBACK, RET, NAME, PARAMS, ARGS)                      \
  extern "C" RET NAME PARAMS {                                                          \
    static const auto real = hsls::nvm::LIBRARY.symbol<decltype(&NAME)>(#NAME);         \
    return real ? real ARGS : FALLBACK;                                                 \
  }

using hsls::nvm::g_daxctl;
using hsls::nvm::g_ndctl;

HSLS_ON_DEMAND(g_ndctl, -ENOSYS, int, ndctl_new, (ndctl_ctx** ctx), (ctx))
HSLS_ON_DEMAND(g_ndctl, nullptr, ndctl_ctx*, ndctl_unref, (ndctl_ctx* ctx), (ctx))
HSLS_ON_DEMAND(g_ndctl, nullptr, ndctl_bus*, ndctl_bus_get_first, (ndctl_ctx* ctx), (ctx))
HSLS_ON_DEMAND(g_ndctl, nullptr, ndctl_bus*, ndctl_bus_get_next, (ndctl_bus* bus), (bus))
HSLS_ON_DEMAND(g_ndctl, nullptr, ndctl_region*, ndctl_region_get_first, (ndctl_bus* bus), (bus))
HSLS_ON_DEMAND(g_ndctl, nullptr, ndctl_region*, ndctl_region_get_next, (ndctl_region* region), (region))
HSLS_ON_DEMAND(g_ndctl, 0u, unsigned int, ndctl_region_get_id, (ndctl_region* region), (region))
HSLS_ON_DEMAND(g_ndctl, -1, int, ndctl_region_get_numa_node, (ndctl_region* region), (region))
HSLS_ON_DEMAND(g_ndctl, nullptr, ndctl_namespace*, ndctl_namespace_get_first, (ndctl_region* region), (region))
HSLS_ON_DEMAND(g_ndctl, nullptr, ndctl_namespace*, ndctl_namespace_get_next, (ndctl_namespace* ns), (ns))
HSLS_ON_DEMAND(g_ndctl, nullptr, ndctl_btt*, ndctl_namespace_get_btt, (ndctl_namespace* ns), (ns))
HSLS_ON_DEMAND(g_ndctl, nullptr, ndctl_pfn*, ndctl_namespace_get_pfn, (ndctl_namespace* ns), (ns))
HSLS_ON_DEMAND(g_ndctl, nullptr, ndctl_dax*, ndctl_namespace_get_dax, (ndctl_namespace* ns), (ns))
HSLS_ON_DEMAND(g_ndctl, nullptr, const char*, ndctl_namespace_get_block_device, (ndctl_namespace* ns), (ns))
HSLS_ON_DEMAND(g_ndctl, nullptr, const char*, ndctl_btt_get_block_device, (ndctl_btt* btt), (btt))
HSLS_ON_DEMAND(g_ndctl, nullptr, const char*, ndctl_pfn_get_block_device, (ndctl_pfn* pfn), (pfn))
HSLS_ON_DEMAND(g_ndctl, 0ull, unsigned long long, ndctl_dax_get_size, (ndctl_dax* dax), (dax))
HSLS_ON_DEMAND(g_ndctl, 0ul, unsigned long, ndctl_dax_get_align, (ndctl_dax* dax), (dax))
HSLS_ON_DEMAND(g_ndctl, nullptr, daxctl_region*, ndctl_dax_get_daxctl_region, (ndctl_dax* dax), (dax))
HSLS_ON_DEMAND(g_daxctl, nullptr, daxctl_dev*, daxctl_dev_get_first, (daxctl_region* region), (region))
HSLS_ON_DEMAND(g_daxctl, nullptr, daxctl_dev*, daxctl_dev_get_next, (daxctl_dev* dev), (dev))
HSLS_ON_DEMAND(g_daxctl, nullptr, const char*, daxctl_dev_get_devname, (daxctl_dev* dev), (dev))
