// Fixed-width types used throughout the guest kernel.
#pragma once
#include <stddef.h>
#include <stdint.h>

using u8 = uint8_t;
using u16 = uint16_t;
using u32 = uint32_t;
using u64 = uint64_t;
using i32 = int32_t;
using i64 = int64_t;
using Paddr = uint64_t;   // guest-physical address
using Vaddr = uint64_t;   // guest-virtual address
