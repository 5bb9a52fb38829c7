// The journal and commit word on a real NVM file (in /dev/shm), and how a
// Store opens, validates, refuses and reformats that file.
#include <doctest/doctest.h>

#include "tests/unit/temp_nvm.h"
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <string>
#include <vector>

#include "nvm/journal.h"
#include "nvm/store.h"
#include "vmm/core/error.h"

using namespace hsls;
using namespace hsls::nvm;
using doctest::Contains;

namespace {

constexpr uint64_t MiB = 1ull << 20;
constexpr uint64_t kMem = 16 * MiB;

CheckpointRecord make_record(uint64_t version) {
  CheckpointRecord r{};
  r.version = version;
  r.unix_ns = 1000 + version;
  r.state_offset = 0x1000 * version;
  r.state_bytes = 512 + version;
  r.state_checksum = 0xabcdef00ull ^ version;
  r.pages_dirty = version * 3;
  r.pages_copied = version * 2;
  r.pause_ns = version * 7;
  return r;
}

void check_record(const CheckpointRecord& got, uint64_t version) {
  CheckpointRecord want = make_record(version);
  CHECK(got.version == version);
  CHECK(got.unix_ns == want.unix_ns);
  CHECK(got.state_offset == want.state_offset);
  CHECK(got.state_bytes == want.state_bytes);
  CHECK(got.state_checksum == want.state_checksum);
  CHECK(got.pages_dirty == want.pages_dirty);
  CHECK(got.pages_copied == want.pages_copied);
  CHECK(got.pause_ns == want.pause_ns);
  CHECK(intact(got));
}

// Size and checksum of a whole file (to show it was left unmodified).
std::pair<uint64_t, uint64_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(std::filesystem::file_size(path));
  in.read(buf.data(), std::streamsize(buf.size()));
  REQUIRE(uint64_t(in.gcount()) == buf.size());
  return {buf.size(), checksum(buf.data(), buf.size())};
}

std::string open_error(const std::string& path, uint64_t mem, bool fresh = false) {
  try {
    Store s(path, mem, 1, fresh, false);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("nvm journal: seal and intact") {
  CheckpointRecord r = make_record(9);
  CHECK_FALSE(intact(r));  // not sealed
  seal(r);
  CHECK(intact(r));
  for (size_t at : {size_t(0), size_t(8), size_t(40), size_t(100), size_t(247), size_t(248), size_t(255)}) {
    CAPTURE(at);
    CheckpointRecord c = r;
    reinterpret_cast<uint8_t*>(&c)[at] ^= 0x10;
    CHECK_FALSE(intact(c));
  }
  CheckpointRecord zero{};
  seal(zero);
  CHECK_FALSE(intact(zero));  // version 0 is never a checkpoint
}

TEST_CASE("nvm journal: a fresh store is formatted with nothing committed") {
  TempNvm f("fresh");
  Store s(f.path, kMem, 2, false, false);
  CHECK(s.formatted());
  CHECK(s.path() == f.path);
  CHECK(s.layout().memory_bytes == kMem);
  CHECK(s.journal().committed() == 0);
  CHECK(check_superblock(s.superblock(), s.layout()) == "");
  CHECK(s.superblock().vcpus == 2);
  CHECK(std::filesystem::file_size(f.path) >= s.layout().file_bytes);
  for (uint64_t v = 0; v < 2 * kJournalRecords; ++v) CHECK_FALSE(s.journal().find(v).has_value());
  CHECK(s.ram() == s.file() + s.layout().ram);
  CHECK(s.backup(3, 1) == s.file() + s.layout().backup(3, 1));
  CHECK(reinterpret_cast<uint8_t*>(s.tag(3, 1)) == s.file() + s.layout().tag(3, 1));
  CHECK(s.state_slot(1) == s.file() + s.layout().state[1]);
  CHECK(*s.tag(0, 0) == 0);
  CHECK(s.ram()[kMem - 1] == 0);
}

TEST_CASE("nvm journal: append + commit makes the record findable") {
  TempNvm f("commit");
  Store s(f.path, kMem, 1, false, false);
  auto& j = s.journal();
  j.append(make_record(1));
  j.commit(1);
  CHECK(j.committed() == 1);
  auto r = j.find(1);
  REQUIRE(r.has_value());
  check_record(*r, 1);
  CHECK_FALSE(j.find(2).has_value());
  CHECK_FALSE(j.find(1 + kJournalRecords).has_value());  // same slot, other version
  CHECK(s.persist().count(CrashPoint::journal_written) == 1);
  CHECK(s.persist().count(CrashPoint::committed) == 1);
  // The commit word is at layout.commit, the record at its slot.
  CHECK(*reinterpret_cast<uint64_t*>(s.file() + s.layout().commit) == 1);
  auto* slot = reinterpret_cast<CheckpointRecord*>(s.file() + s.layout().journal) + 1;
  CHECK(slot->version == 1);

  j.append(make_record(2));
  j.commit(2);
  CHECK(j.committed() == 2);
  REQUIRE(j.find(1).has_value());
  REQUIRE(j.find(2).has_value());
  check_record(*j.find(2), 2);
}

TEST_CASE("nvm journal: a record with a corrupted byte is not found") {
  TempNvm f("corrupt");
  Store s(f.path, kMem, 1, false, false);
  auto& j = s.journal();
  j.append(make_record(5));
  j.commit(5);
  auto* raw = s.file() + s.layout().journal + 5 * sizeof(CheckpointRecord);
  for (size_t at : {size_t(0), size_t(17), size_t(130), size_t(255)}) {
    CAPTURE(at);
    raw[at] ^= 0x04;
    CHECK_FALSE(j.find(5).has_value());
    raw[at] ^= 0x04;
    CHECK(j.find(5).has_value());
  }
  CHECK(j.committed() == 5);  // find never touches the commit word
}

TEST_CASE("nvm journal: a record appended but not committed leaves committed() unchanged") {
  TempNvm f("uncommitted");
  Store s(f.path, kMem, 1, false, false);
  auto& j = s.journal();
  j.append(make_record(1));
  j.commit(1);
  j.append(make_record(2));
  CHECK(j.committed() == 1);
  CHECK(j.find(1).has_value());
  CHECK(j.find(2).has_value());  // written, just not in force
}

TEST_CASE("nvm journal: power lost before the commit keeps the previous version") {
  TempNvm f("powerloss");
  Store s(f.path, kMem, 1, false, false);
  auto& j = s.journal();
  j.append(make_record(1));
  j.commit(1);

  SUBCASE("failure at journal-written") {
    s.persist().arm(CrashPoint::journal_written, 1, [](CrashPoint cp) { throw PowerFailure{cp}; });
    CHECK_THROWS_AS(j.append(make_record(2)), PowerFailure);
    CHECK(s.persist().power_lost());
    CHECK(j.committed() == 1);
    CHECK(j.find(2).has_value());  // the record itself was persisted before the point
    j.commit(2);                     // the commit store is dropped
    CHECK(j.committed() == 1);
    check_record(*j.find(1), 1);
  }
  SUBCASE("power lost before the record is written") {
    s.persist().lose_power();
    j.append(make_record(2));
    j.commit(2);
    CHECK(j.committed() == 1);
    CHECK_FALSE(j.find(2).has_value());
    REQUIRE(j.find(1).has_value());
  }
  SUBCASE("failure at committed: the new version is in force") {
    s.persist().arm(CrashPoint::committed, 1, [](CrashPoint cp) { throw PowerFailure{cp}; });
    j.append(make_record(2));
    CHECK_THROWS_AS(j.commit(2), PowerFailure);
    CHECK(j.committed() == 2);
  }
}

TEST_CASE("nvm journal: records wrap modulo kJournalRecords") {
  TempNvm f("wrap");
  Store s(f.path, kMem, 1, false, false);
  auto& j = s.journal();
  const uint64_t last = kJournalRecords + 10;
  for (uint64_t v = 1; v <= last; ++v) {
    j.append(make_record(v));
    j.commit(v);
  }
  CHECK(j.committed() == last);
  for (uint64_t v = 1; v <= last; ++v) {
    CAPTURE(v);
    bool kept = v + kJournalRecords > last;  // the last kJournalRecords versions
    CHECK(j.find(v).has_value() == kept);
    if (kept) CHECK(j.find(v)->version == v);
  }
  CHECK_FALSE(j.find(last + 1).has_value());
}

TEST_CASE("nvm store: reopening keeps the committed version and the records") {
  TempNvm f("reopen");
  {
    Store s(f.path, kMem, 2, false, false);
    s.journal().append(make_record(3));
    s.journal().commit(3);
    s.ram()[12345] = 0x5a;
    s.keep();
  }
  REQUIRE(f.exists());
  Store s(f.path, kMem, 2, false, true);
  CHECK_FALSE(s.formatted());
  CHECK(s.journal().committed() == 3);
  REQUIRE(s.journal().find(3).has_value());
  check_record(*s.journal().find(3), 3);
  CHECK(s.ram()[12345] == 0x5a);
  CHECK(s.persist().adr());
}

TEST_CASE("nvm store: a new file is removed again unless keep() was called") {
  TempNvm f("nokeep");
  { Store s(f.path, kMem, 1, false, false); CHECK(f.exists()); }
  CHECK_FALSE(f.exists());
}

TEST_CASE("nvm store: a file in use by another store is refused") {
  TempNvm f("locked");
  Store s(f.path, kMem, 1, false, false);
  std::string why = open_error(f.path, kMem);
  CHECK(why.find("in use") != std::string::npos);
  CHECK(f.exists());  // the refused open did not remove the first store's file
}

TEST_CASE("nvm store: reopening with a different memory size is refused") {
  TempNvm f("memsize");
  {
    Store s(f.path, 32 * MiB, 1, false, false);
    s.journal().append(make_record(1));
    s.journal().commit(1);
    s.keep();
  }
  auto before = file_bytes(f.path);
  SUBCASE("smaller: names both memory sizes") {
    std::string why = open_error(f.path, 16 * MiB);
    CHECK(why.find(f.path) != std::string::npos);
    CHECK(why.find("32 MiB") != std::string::npos);
    CHECK(why.find("16 MiB") != std::string::npos);
    CHECK(why.find("--fresh") != std::string::npos);
  }
  SUBCASE("larger: the file is too small, both sizes named") {
    Layout big = compute_layout(64 * MiB);
    std::string why = open_error(f.path, 64 * MiB);
    CHECK(why.find("too small") != std::string::npos);
    CHECK(why.find(std::to_string(compute_layout(32 * MiB).file_bytes)) != std::string::npos);
    CHECK(why.find(std::to_string(big.file_bytes)) != std::string::npos);
  }
  CHECK(f.exists());
  CHECK(file_bytes(f.path) == before);
  Store again(f.path, 32 * MiB, 1, false, false);
  CHECK(again.journal().committed() == 1);
}

TEST_CASE("nvm store: a half-written format (zeroed superblock) is refused and left unmodified") {
  TempNvm f("halfformat");
  {
    Store s(f.path, kMem, 1, false, false);
    s.journal().append(make_record(1));
    s.journal().commit(1);
    s.keep();
  }
  {
    int fd = ::open(f.path.c_str(), O_WRONLY);
    REQUIRE(fd >= 0);
    std::vector<char> zero(sizeof(Superblock), 0);
    REQUIRE(::pwrite(fd, zero.data(), zero.size(), 0) == ssize_t(zero.size()));
    ::close(fd);
  }
  auto before = file_bytes(f.path);
  std::string why = open_error(f.path, kMem);
  CHECK(why.find("never finished") != std::string::npos);
  CHECK(why.find("refusing") != std::string::npos);
  CHECK(f.exists());
  CHECK(file_bytes(f.path) == before);
  // A second attempt says the same (nothing was "repaired" behind our back).
  CHECK(open_error(f.path, kMem) == why);
}

TEST_CASE("nvm store: a foreign file is refused and left unmodified") {
  TempNvm f("foreign");
  Layout l = compute_layout(kMem);
  {
    std::ofstream out(f.path, std::ios::binary);
    std::string junk = "#!/bin/sh\necho this is not an NVM file\n";
    out << junk;
    out.seekp(std::streamoff(l.file_bytes - 1));
    out.put('\n');
  }
  auto before = file_bytes(f.path);
  std::string why = open_error(f.path, kMem);
  CHECK(why.find("not a hypersls NVM file") != std::string::npos);
  CHECK(file_bytes(f.path) == before);
}

TEST_CASE("nvm store: a corrupt superblock is refused, fresh=true reformats") {
  TempNvm f("fresh-reformat");
  {
    Store s(f.path, kMem, 1, false, false);
    for (uint64_t v = 1; v <= 3; ++v) {
      s.journal().append(make_record(v));
      s.journal().commit(v);
    }
    s.ram()[0] = 0x77;
    *s.tag(0, 1) = 3;
    reinterpret_cast<Superblock*>(s.file())->created_unix_ns ^= 1;  // corrupt
    s.keep();
  }
  CHECK(open_error(f.path, kMem).find("bad checksum") != std::string::npos);
  {
    Store s(f.path, kMem, 4, true, false);
    CHECK(s.formatted());
    CHECK(s.journal().committed() == 0);
    for (uint64_t v = 1; v <= 3; ++v) CHECK_FALSE(s.journal().find(v).has_value());
    CHECK(s.ram()[0] == 0);
    CHECK(*s.tag(0, 1) == 0);
    CHECK(s.superblock().vcpus == 4);
    CHECK(check_superblock(s.superblock(), s.layout()) == "");
    s.keep();  // the machine came up: the fresh file replaces the old one
  }
  CHECK(f.exists());
  Store s(f.path, kMem, 4, false, false);
  CHECK_FALSE(s.formatted());
}

TEST_CASE("nvm store: fresh=true on a good file with another memory size starts over") {
  TempNvm f("fresh-resize");
  {
    Store s(f.path, 32 * MiB, 1, false, false);
    s.journal().append(make_record(1));
    s.journal().commit(1);
    s.keep();
  }
  Store s(f.path, 16 * MiB, 1, true, false);
  CHECK(s.formatted());
  CHECK(s.journal().committed() == 0);
  CHECK(s.layout().memory_bytes == 16 * MiB);
  s.keep();
  CHECK(std::filesystem::file_size(f.path) == compute_layout(16 * MiB).file_bytes);
}

namespace {

// Names in the NVM file's folder that start with its name (the file, and
// anything a fresh start left behind).
std::vector<std::string> files_like(const std::string& path) {
  std::filesystem::path p(path);
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(p.parent_path()))
    if (e.path().filename().string().rfind(p.filename().string(), 0) == 0) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("nvm store: fresh=true touches nothing until keep(); a refused fresh start leaves the file as it was") {
  // "Nothing is created or overwritten on a refused start": the machine
  // makes its Store early and calls keep() only once everything that can
  // refuse has passed; a Store destroyed without keep() is a refused start.
  TempNvm f("fresh-refused");
  {
    Store s(f.path, kMem, 2, false, false);
    for (uint64_t v = 1; v <= 3; ++v) {
      s.journal().append(make_record(v));
      s.journal().commit(v);
    }
    s.ram()[4096] = 0x42;
    s.keep();
  }
  const auto before = file_bytes(f.path);
  const auto names = files_like(f.path);
  REQUIRE(names.size() == 1);
  for (uint64_t mem : {kMem, 32 * MiB}) {
    CAPTURE(mem);
    {
      Store s(f.path, mem, 1, true, false);
      CHECK(s.formatted());
      CHECK(s.journal().committed() == 0);
      CHECK(s.ram()[4096] == 0);
      s.ram()[0] = 0x99;  // the guest image goes in before the start can still be refused
      CHECK(file_bytes(f.path) == before);
      CHECK(open_error(f.path, kMem).find("locked") != std::string::npos);  // still this vmm's
    }  // refused: no keep()
    CHECK(file_bytes(f.path) == before);
    CHECK(files_like(f.path) == names);  // nothing left behind
  }
  {
    Store s(f.path, kMem, 2, false, false);
    CHECK(s.journal().committed() == 3);
    CHECK(s.ram()[4096] == 0x42);
  }
  // A fresh start that comes up replaces the file, and holds the new one's lock.
  {
    Store s(f.path, 32 * MiB, 1, true, false);
    s.ram()[0] = 0x99;
    s.keep();
    CHECK(open_error(f.path, 32 * MiB).find("locked") != std::string::npos);
    CHECK(std::filesystem::file_size(f.path) == compute_layout(32 * MiB).file_bytes);
  }
  CHECK(files_like(f.path) == names);
  {
    Store s(f.path, 32 * MiB, 1, false, false);
    CHECK_FALSE(s.formatted());
    CHECK(s.journal().committed() == 0);
    CHECK(s.ram()[0] == 0x99);
    CHECK(s.ram()[4096] == 0);
  }
  // Through a symbolic link the file it points to is replaced, not the link.
  std::string link = f.path + ".link";
  std::filesystem::create_symlink(f.path, link);
  {
    Store s(link, kMem, 1, true, false);
    s.keep();
  }
  CHECK(std::filesystem::is_symlink(link));
  CHECK(std::filesystem::file_size(f.path) == compute_layout(kMem).file_bytes);
  std::filesystem::remove(link);
  CHECK(files_like(f.path) == names);
}

TEST_CASE("nvm store: a committed version beyond 2^62 is refused by name and the file left unmodified") {
  // A crafted file committed at 2^64-1: the next checkpoint would be version
  // 0, which means "no checkpoint". Nothing counts that far (2^62
  // checkpoints at one per 0.5 ms take 73 million years), so it is corrupt.
  for (uint64_t version : {uint64_t(~0ull), uint64_t(~0ull - 1), uint64_t(kMaxVersion + 1), uint64_t(1ull << 63)}) {
    CAPTURE(version);
    TempNvm f("version-bound");
    {
      Store s(f.path, kMem, 1, false, false);
      s.journal().append(make_record(version));
      s.journal().commit(version);
      s.keep();
    }
    auto before = file_bytes(f.path);
    std::string why = open_error(f.path, kMem);
    CHECK(why.find("NVM file " + f.path + " ") == 0);
    CHECK(why.find("committed version " + std::to_string(version)) != std::string::npos);
    CHECK(why.find("at most 2^62") != std::string::npos);
    CHECK(why.find("--fresh") != std::string::npos);
    CHECK(file_bytes(f.path) == before);
  }
  // 2^62 itself is the last version accepted.
  TempNvm f("version-limit");
  {
    Store s(f.path, kMem, 1, false, false);
    s.journal().append(make_record(kMaxVersion));
    s.journal().commit(kMaxVersion);
    s.keep();
  }
  Store s(f.path, kMem, 1, false, false);
  CHECK(s.journal().committed() == kMaxVersion);
}
