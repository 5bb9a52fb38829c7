// Reads the guest kernel's object-tree descriptor (guest/abi/descriptor.h,
// docs/guest-descriptor.md) from guest memory for the monitor's
// `info guest`: processes, threads, memory and object counts.
#pragma once
#include <nlohmann/json.hpp>

#include "vmm/core/guest_memory.h"

namespace hsls::debug {

// The descriptor as JSON; {"ok":false,...} if it is absent or keeps changing.
nlohmann::json guest_info(const GuestMemory& mem);

}  // namespace hsls::debug
