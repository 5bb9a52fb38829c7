// The heap's next allocations on transparent huge pages (vmm/core/huge_heap.h).
#include <doctest/doctest.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <sstream>
#include <string>

#include "vmm/core/huge_heap.h"

namespace {

// The smaps lines of the mapping that holds `address`.
std::string smaps_of(const void* address) {
  std::ifstream in("/proc/self/smaps");
  std::string line, block;
  bool inside = false;
  const uintptr_t a = uintptr_t(address);
  while (std::getline(in, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (line.find(':') == std::string::npos || line.find('-') < line.find(' ')) {
      if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
        if (inside) break;
        inside = a >= lo && a < hi;
      }
    }
    if (inside) block += line + "\n";
  }
  return block;
}

// The value of a "Name:   N" line of a smaps block; -1 if there is none.
long smaps_field(const std::string& block, const std::string& name) {
  size_t at = block.find("\n" + name + ":");
  if (at == std::string::npos) return -1;
  return std::strtol(block.c_str() + at + name.size() + 2, nullptr, 10);
}

bool thp_enabled() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s;
  std::getline(in, s);
  return s.find("[always]") != std::string::npos || s.find("[madvise]") != std::string::npos;
}

}  // namespace

// A sanitizer's allocator does not use the brk heap. (gcc defines the
// macros; clang answers __has_feature.)
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HSLS_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define HSLS_TEST_SANITIZED 1
#endif
#endif
#ifdef HSLS_TEST_SANITIZED
constexpr bool kOwnMalloc = false;
#else
constexpr bool kOwnMalloc = true;
#endif

// In a fresh process (this binary, this test case only): the tests before
// leave free blocks in the heap that could serve the allocation instead.
TEST_CASE("back_heap_with_huge_pages: the next allocation lies on a range eligible for huge pages") {
  if (!std::getenv("HSLS_HUGE_HEAP_CHILD")) {
    std::string self = std::filesystem::read_symlink("/proc/self/exe");
    std::string cmd = "HSLS_HUGE_HEAP_CHILD=1 '" + self + "' -tc='back_heap_with_huge_pages*' -s >/tmp/hsls-huge-heap." +
                      std::to_string(::getpid()) + " 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream out("/tmp/hsls-huge-heap." + std::to_string(::getpid()));
    std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
    std::remove(("/tmp/hsls-huge-heap." + std::to_string(::getpid())).c_str());
    INFO(text);
    CHECK(rc == 0);
    CHECK(text.find("1 passed") != std::string::npos);
    return;
  }
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // as vmm's main() does
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  size_t on_huge = hsls::back_heap_with_huge_pages(16 << 20);
  void* block = std::malloc(1 << 20);
  REQUIRE(block != nullptr);
  std::memset(block, 1, 1 << 20);
  if (!kOwnMalloc || !thp_enabled()) {
    MESSAGE("no brk heap or THP off: only that allocation still works");
  } else {
    CHECK(on_huge >= size_t(2 << 20));
    std::string vma = smaps_of(block);
    CHECK(smaps_field(vma, "THPeligible") == 1);
    MESSAGE(vma.substr(0, vma.find('\n')), ", AnonHugePages kB: ", smaps_field(vma, "AnonHugePages"));
  }
  CHECK(hsls::back_heap_with_huge_pages(16 << 20) == 0);  // once per process
  std::free(block);
}
