// RamPrefault: guest RAM's pages are mapped in the background, every byte
// left as it was; stopping it early is safe.
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include "vmm/core/ram_prefault.h"

using hsls::RamPrefault;

namespace {

// A shared mapping like guest RAM's (a memfd: tmpfs pages, as /dev/shm).
struct SharedRam {
  size_t size;
  uint8_t* base = nullptr;
  explicit SharedRam(size_t bytes) : size(bytes) {
    int fd = memfd_create("ram-prefault-test", 0);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, off_t(size)) == 0);
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    REQUIRE(p != MAP_FAILED);
    base = static_cast<uint8_t*>(p);
  }
  ~SharedRam() { munmap(base, size); }
  // Pages of the mapping present in memory (mincore).
  size_t resident() const {
    std::vector<unsigned char> v(size / 4096);
    REQUIRE(mincore(base, size, v.data()) == 0);
    size_t n = 0;
    for (unsigned char c : v) n += c & 1;
    return n;
  }
};

}  // namespace

TEST_CASE("RamPrefault maps every page and changes no byte") {
  SharedRam ram(8 << 20);
  for (size_t off = 0; off < ram.size; off += 3 * 4096 + 17) ram.base[off] = uint8_t(off * 7 + 1);
  size_t before = ram.resident();
  REQUIRE(before < ram.size / 4096);  // the test means something: most pages were never touched
  {
    RamPrefault prefault(ram.base, ram.size);
    for (int i = 0; i < 10000 && !prefault.finished(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(prefault.finished());
    CHECK(prefault.done() == ram.size);
  }
  CHECK(ram.resident() == ram.size / 4096);
  size_t changed = 0;
  for (size_t off = 0; off < ram.size; off += 4096)
    if (off % (3 * 4096 + 17) != 0 && ram.base[off] != 0) ++changed;
  CHECK(changed == 0);
  for (size_t off = 0; off < ram.size; off += 3 * 4096 + 17) CHECK(ram.base[off] == uint8_t(off * 7 + 1));
}

TEST_CASE("RamPrefault stops when it goes, however far it got") {
  SharedRam ram(64 << 20);
  uint64_t done = 0;
  {
    RamPrefault prefault(ram.base, ram.size);
    done = prefault.done();
  }  // joined here: the mapping may go now
  CHECK(done <= ram.size);
  ram.base[0] = 1;  // still ours and writable
  CHECK(ram.base[0] == 1);
}
