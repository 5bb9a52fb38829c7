// plan_load / apply_load / ImageFile: a valid PVH image loads at the
// right guest-physical addresses, and each malformed image is refused with a
// message that names the problem.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/unit/elf_builder.h"
#include "vmm/boot/elf_loader.h"
#include "vmm/core/error.h"
#include "vmm/core/guest_memory.h"

using namespace hsls;
using namespace hsls::test;
using boot::plan_load;
using doctest::Contains;

namespace {

constexpr uint64_t kRam = 32ull << 20;

std::vector<RamRange> ram32() { return layout_ram(kRam); }

// plan_load on the image with 32 MiB of RAM, named "img".
boot::LoadPlan plan(const ElfImage& img, const std::vector<RamRange>& ram = ram32()) {
  return plan_load(img.bytes, ram, "img");
}

// The message plan_load refuses the image with ("" if it accepts it).
std::string refusal(const ElfImage& img, const std::vector<RamRange>& ram = ram32()) {
  try {
    plan_load(img.bytes, ram, "img");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("elf_loader") {

TEST_CASE("a valid PVH image is planned segment by segment") {
  auto img = ValidPvh::build();
  auto p = plan(img);
  CHECK(p.pvh_entry == ValidPvh::kEntry);
  REQUIRE(p.segments.size() == 2);
  CHECK(p.segments[0].paddr == ValidPvh::kTextAddr);
  CHECK(p.segments[0].file_size == ValidPvh::kTextSize);
  CHECK(p.segments[0].mem_size == ValidPvh::kTextSize);
  CHECK(p.segments[0].file_offset == img.phdr(ValidPvh::kTextPh).p_offset);
  CHECK(p.segments[1].paddr == ValidPvh::kDataAddr);
  CHECK(p.segments[1].file_size == ValidPvh::kDataFile);
  CHECK(p.segments[1].mem_size == ValidPvh::kDataMem);
  CHECK(p.segments[1].file_offset == img.phdr(ValidPvh::kDataPh).p_offset);
}

TEST_CASE("apply_load copies the file bytes and zero-fills the bss at p_paddr") {
  auto img = ValidPvh::build();
  auto p = plan(img);
  std::vector<uint8_t> ram(kRam, 0xaa);  // garbage everywhere
  GuestMemory mem(ram.data(), ram.size());
  boot::apply_load(p, img.bytes, mem);

  auto text = ValidPvh::text();
  auto data = ValidPvh::data();
  std::vector<uint8_t> got(ValidPvh::kTextSize);
  REQUIRE(mem.read(ValidPvh::kTextAddr, got.data(), got.size()));
  CHECK(got == text);
  got.resize(ValidPvh::kDataFile);
  REQUIRE(mem.read(ValidPvh::kDataAddr, got.data(), got.size()));
  CHECK(got == data);

  // bss: [data + filesz, data + memsz) is zero
  bool bss_zero = true;
  for (uint64_t a = ValidPvh::kDataAddr + ValidPvh::kDataFile; a < ValidPvh::kDataAddr + ValidPvh::kDataMem; ++a)
    bss_zero = bss_zero && ram[a] == 0;
  CHECK(bss_zero);
  // Nothing outside the segments was touched.
  CHECK(ram[ValidPvh::kTextAddr - 1] == 0xaa);
  CHECK(ram[ValidPvh::kTextAddr + ValidPvh::kTextSize] == 0xaa);
  CHECK(ram[ValidPvh::kDataAddr - 1] == 0xaa);
  CHECK(ram[ValidPvh::kDataAddr + ValidPvh::kDataMem] == 0xaa);
  CHECK(ram[0] == 0xaa);
  // The entry point holds the byte at its offset in the text segment.
  CHECK(ram[ValidPvh::kEntry] == text[ValidPvh::kEntry - ValidPvh::kTextAddr]);
}

TEST_CASE("apply_load refuses a plan whose segment is outside guest memory") {
  auto img = ValidPvh::build();
  auto p = plan(img);
  std::vector<uint8_t> ram(2ull << 20);  // only 2 MiB: the data segment at 2 MiB does not fit
  GuestMemory mem(ram.data(), ram.size());
  CHECK_THROWS_WITH_AS(boot::apply_load(p, img.bytes, mem), Contains("outside guest memory"), Error);
}

TEST_CASE("a segment may end exactly at the end of RAM, or sit in RAM above 4 GiB") {
  auto seg = pattern(0x1000, 3);
  auto at_end = build_elf({{PT_LOAD, kRam - 0x1000, seg, 0}, {PT_NOTE, 0, pvh_note(kRam - 0x1000), 0}}, 0);
  CHECK(plan(at_end).segments.at(0).paddr == kRam - 0x1000);

  auto high_ram = layout_ram(6ull << 30);  // [0, 3G) and [4G, 7G)
  auto high = build_elf({{PT_LOAD, 0x100000, seg, 0},
                         {PT_LOAD, (4ull << 30) + 0x1000, seg, 0},
                         {PT_NOTE, 0, pvh_note(0x100000), 0}},
                        0);
  CHECK(plan(high, high_ram).segments.size() == 2);
  // ...but not in the hole between 3 GiB and 4 GiB.
  auto hole = build_elf({{PT_LOAD, 0x100000, seg, 0},
                         {PT_LOAD, 3ull << 30, seg, 0},
                         {PT_NOTE, 0, pvh_note(0x100000), 0}},
                        0);
  CHECK(refusal(hole, high_ram).find("segment 1 lies outside guest memory") != std::string::npos);
}

TEST_CASE("PT_LOAD segments with p_memsz 0 and other program headers are skipped") {
  auto img = build_elf({{PT_LOAD, 0x100000, pattern(0x100, 1), 0},
                        {PT_LOAD, 0x1000, {}, 0},  // empty: ignored even though it is below 1 MiB
                        {PT_GNU_STACK, 0, {}, 0},
                        {PT_NOTE, 0, pvh_note(0x100000), 0}},
                       0);
  auto p = plan(img);
  REQUIRE(p.segments.size() == 1);
  CHECK(p.segments[0].paddr == 0x100000);
}

TEST_CASE("the PVH note is found among other notes, as an 8-byte descriptor, or in a section") {
  SUBCASE("after another note in the same PT_NOTE") {
    auto notes = elf_note("GNU", 3, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
    auto xen_other = elf_note("Xen", 5, {'x', 'e', 'n'});  // a Xen note of another type
    auto pvh = pvh_note(0x100020);
    notes.insert(notes.end(), xen_other.begin(), xen_other.end());
    notes.insert(notes.end(), pvh.begin(), pvh.end());
    auto img = build_elf({{PT_LOAD, 0x100000, pattern(0x100, 1), 0}, {PT_NOTE, 0, notes, 0}}, 0);
    CHECK(plan(img).pvh_entry == 0x100020);
  }
  SUBCASE("8-byte descriptor") {
    auto img = build_elf({{PT_LOAD, 0x100000, pattern(0x100, 1), 0}, {PT_NOTE, 0, pvh_note(0x100040, true), 0}}, 0);
    CHECK(plan(img).pvh_entry == 0x100040);
  }
  SUBCASE("only in an SHT_NOTE section") {
    auto img = build_elf({{PT_LOAD, 0x100000, pattern(0x100, 1), 0}}, 0, pvh_note(0x100080));
    CHECK(plan(img).pvh_entry == 0x100080);
  }
}

// One mutation of the valid image per refusal; each must name the problem.
TEST_CASE("malformed images are refused with a message naming the problem") {
  auto good = ValidPvh::build();
  REQUIRE(refusal(good) == "");

  SUBCASE("too short") {
    auto img = good;
    img.bytes.resize(sizeof(Elf64_Ehdr) - 1);
    CHECK_THROWS_WITH_AS(plan(img), Contains("too short"), Error);
    img.bytes.clear();
    CHECK_THROWS_WITH_AS(plan(img), Contains("too short"), Error);
  }
  SUBCASE("bad magic") {
    auto img = good;
    img.bytes[1] = 'X';
    CHECK_THROWS_WITH_AS(plan(img), Contains("bad magic"), Error);
  }
  SUBCASE("ELF32") {
    auto img = good;
    img.bytes[EI_CLASS] = ELFCLASS32;
    CHECK_THROWS_WITH_AS(plan(img), Contains("not ELF64"), Error);
  }
  SUBCASE("big-endian") {
    auto img = good;
    img.bytes[EI_DATA] = ELFDATA2MSB;
    CHECK_THROWS_WITH_AS(plan(img), Contains("not little-endian"), Error);
  }
  SUBCASE("not x86-64") {
    auto img = good;
    img.edit_ehdr([](Elf64_Ehdr& eh) { eh.e_machine = EM_AARCH64; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("machine 183 is not x86-64"), Error);
  }
  SUBCASE("not ET_EXEC") {
    auto img = good;
    img.edit_ehdr([](Elf64_Ehdr& eh) { eh.e_type = ET_DYN; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("not an executable (ET_EXEC)"), Error);
  }
  SUBCASE("program headers outside the file") {
    auto img = good;
    auto size = img.bytes.size();
    img.edit_ehdr([&](Elf64_Ehdr& eh) { eh.e_phoff = size - 10; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("program header table is missing or outside the file"), Error);
  }
  SUBCASE("program header offset that wraps around") {
    auto img = good;
    img.edit_ehdr([](Elf64_Ehdr& eh) { eh.e_phoff = ~0ull - 8; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("program header table"), Error);
  }
  SUBCASE("no program headers") {
    auto img = good;
    img.edit_ehdr([](Elf64_Ehdr& eh) { eh.e_phnum = 0; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("program header table"), Error);
  }
  SUBCASE("wrong program header entry size") {
    auto img = good;
    img.edit_ehdr([](Elf64_Ehdr& eh) { eh.e_phentsize = sizeof(Elf32_Phdr); });
    CHECK_THROWS_WITH_AS(plan(img), Contains("program header table"), Error);
  }
  SUBCASE("segment data outside the file") {
    auto img = good;
    auto size = img.bytes.size();
    img.edit_phdr(ValidPvh::kDataPh, [&](Elf64_Phdr& ph) { ph.p_offset = size - 0x10; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("segment 1 lies outside the file"), Error);
  }
  SUBCASE("segment file size past the end of the file") {
    auto img = good;
    img.edit_phdr(ValidPvh::kTextPh, [](Elf64_Phdr& ph) { ph.p_filesz = ph.p_memsz = 1ull << 40; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("segment 0 lies outside the file"), Error);
  }
  SUBCASE("note segment outside the file") {
    auto img = good;
    img.edit_phdr(ValidPvh::kNotePh, [](Elf64_Phdr& ph) { ph.p_offset = 1ull << 32; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("note segment outside the file"), Error);
  }
  SUBCASE("file size larger than memory size") {
    auto img = good;
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_memsz = ph.p_filesz - 1; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("segment 1 has file size larger than memory size"), Error);
  }
  SUBCASE("segment wraps around the address space") {
    auto img = good;
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = ~0ull - 0x100; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("segment 1 wraps around"), Error);
  }
  SUBCASE("segment below 1 MiB") {
    auto img = good;
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = 0x80000; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("segment 1 lies below 1 MiB"), Error);
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = 0xff000; });  // ends past 1 MiB
    CHECK_THROWS_WITH_AS(plan(img), Contains("below 1 MiB"), Error);
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = 0x7000; });  // just after the boot area
    CHECK_THROWS_WITH_AS(plan(img), Contains("below 1 MiB"), Error);
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = 0x4000; ph.p_memsz = 0x1000; });  // ends at 0x5000
    CHECK_THROWS_WITH_AS(plan(img), Contains("below 1 MiB"), Error);
  }
  SUBCASE("segment over the boot area") {
    auto img = good;
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = 0x5000; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("segment 1 overlaps the boot area"), Error);
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = 0x4800; });  // starts below, ends inside
    CHECK_THROWS_WITH_AS(plan(img), Contains("overlaps the boot area"), Error);
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = 0x6fff; });  // last byte of the area
    CHECK_THROWS_WITH_AS(plan(img), Contains("overlaps the boot area"), Error);
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = 0x1000; ph.p_memsz = 0x10000; });  // covers it
    CHECK_THROWS_WITH_AS(plan(img), Contains("overlaps the boot area"), Error);
  }
  SUBCASE("segment outside guest RAM") {
    auto img = good;
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = kRam; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("segment 1 lies outside guest memory"), Error);
    // bss running past the end of RAM counts too.
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = kRam - 0x800; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("outside guest memory"), Error);
  }
  SUBCASE("segments overlapping each other") {
    auto img = good;
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = ValidPvh::kTextAddr + ValidPvh::kTextSize - 1; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("segment 1 overlaps another segment"), Error);
    // Touching is fine.
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = ValidPvh::kTextAddr + ValidPvh::kTextSize; });
    CHECK(refusal(img) == "");
    // A later segment that contains an earlier one.
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_paddr = ValidPvh::kTextAddr; ph.p_memsz = 0x10000; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("overlaps another segment"), Error);
  }
  SUBCASE("no loadable segment") {
    auto img = good;
    img.edit_phdr(ValidPvh::kTextPh, [](Elf64_Phdr& ph) { ph.p_type = PT_NULL; });
    img.edit_phdr(ValidPvh::kDataPh, [](Elf64_Phdr& ph) { ph.p_type = PT_NULL; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("has no loadable segment"), Error);
  }
  SUBCASE("no PVH note") {
    auto img = good;
    img.edit_phdr(ValidPvh::kNotePh, [](Elf64_Phdr& ph) { ph.p_type = PT_NULL; });
    CHECK_THROWS_WITH_AS(plan(img), Contains("has no PVH entry note"), Error);
  }
  SUBCASE("a Xen note of another type is not the PVH note") {
    auto img = build_elf({{PT_LOAD, 0x100000, pattern(0x100, 1), 0},
                          {PT_NOTE, 0, elf_note("Xen", 17, {0x10, 0, 0x10, 0}), 0}},
                         0);
    CHECK_THROWS_WITH_AS(plan(img), Contains("no PVH entry note"), Error);
  }
  SUBCASE("a type-18 note with another name is not the PVH note") {
    auto img = build_elf({{PT_LOAD, 0x100000, pattern(0x100, 1), 0},
                          {PT_NOTE, 0, elf_note("Xex", 18, {0x10, 0, 0x10, 0}), 0}},
                         0);
    CHECK_THROWS_WITH_AS(plan(img), Contains("no PVH entry note"), Error);
  }
  SUBCASE("a PVH note whose descriptor is too short") {
    auto img = build_elf({{PT_LOAD, 0x100000, pattern(0x100, 1), 0},
                          {PT_NOTE, 0, elf_note("Xen", 18, {0x10, 0}), 0}},
                         0);
    CHECK_THROWS_WITH_AS(plan(img), Contains("no PVH entry note"), Error);
  }
  SUBCASE("a note whose sizes run past the note segment") {
    auto img = good;
    img.edit_phdr(ValidPvh::kNotePh, [](Elf64_Phdr& ph) { ph.p_filesz -= 4; });  // cuts the descriptor off
    CHECK_THROWS_WITH_AS(plan(img), Contains("no PVH entry note"), Error);
  }
  SUBCASE("a 64-bit PVH entry above 4 GiB") {
    auto img = build_elf({{PT_LOAD, 0x100000, pattern(0x100, 1), 0}, {PT_NOTE, 0, pvh_note(1ull << 32, true), 0}}, 0);
    CHECK_THROWS_WITH_AS(plan(img), Contains("no PVH entry note"), Error);
  }
  SUBCASE("entry not inside a loaded segment") {
    CHECK_THROWS_WITH_AS(plan(ValidPvh::build(0x300000)), Contains("PVH entry point is not inside a loaded segment"),
                         Error);
    // One past the end of the text.
    CHECK_THROWS_WITH_AS(plan(ValidPvh::build(ValidPvh::kTextAddr + ValidPvh::kTextSize)),
                         Contains("not inside a loaded segment"), Error);
    // In the bss, which holds no code.
    CHECK_THROWS_WITH_AS(plan(ValidPvh::build(ValidPvh::kDataAddr + ValidPvh::kDataFile + 0x10)),
                         Contains("not inside a loaded segment"), Error);
    // The first and last text bytes are fine.
    CHECK(plan(ValidPvh::build(ValidPvh::kTextAddr)).pvh_entry == ValidPvh::kTextAddr);
    CHECK(plan(ValidPvh::build(ValidPvh::kTextAddr + ValidPvh::kTextSize - 1)).pvh_entry ==
          ValidPvh::kTextAddr + ValidPvh::kTextSize - 1);
  }
}

TEST_CASE("refusals name the image") {
  std::vector<uint8_t> junk(16, 0);
  CHECK_THROWS_WITH_AS(plan_load(junk, ram32(), "/some/guest.img"), Contains("guest image /some/guest.img: "), Error);
}

TEST_CASE("ImageFile holds a file's bytes and refuses a missing file or a directory") {
  auto dir = std::filesystem::temp_directory_path() / ("hsls-elf-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "guest.img").string();
  auto img = ValidPvh::build();
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(img.bytes.data()), std::streamsize(img.bytes.size()));
  }
  boot::ImageFile file(path);
  CHECK(std::vector<uint8_t>(file.bytes().begin(), file.bytes().end()) == img.bytes);
  CHECK(boot::ImageFile("/dev/null").bytes().empty());  // not a regular file: read to its end
  CHECK_THROWS_WITH_AS(boot::ImageFile((dir / "missing.img").string()), Contains("missing.img"), Error);
  CHECK_THROWS_WITH_AS(boot::ImageFile((dir / "missing.img").string()), Contains("cannot be opened"), Error);
  CHECK_THROWS_WITH_AS(boot::ImageFile(dir.string()), Contains("is a directory"), Error);
  std::filesystem::remove_all(dir);
}


TEST_CASE("65,534 one-byte segments: the overlap check is not quadratic") {
  // The most program headers e_phnum can count (0xffff means "see section 0"),
  // with the PVH note in a section. Addresses descend, every other byte, so
  // the loader meets them in no useful order. Quadratic, this took ~10 s.
  constexpr unsigned kSegments = 65534;
  constexpr uint64_t kBase = 0x100000;
  std::vector<ElfSegmentSpec> segs;
  segs.reserve(kSegments);
  for (unsigned i = 0; i < kSegments; ++i)
    segs.push_back({PT_LOAD, kBase + 2 * uint64_t(kSegments - 1 - i), {uint8_t(i)}, 0});
  auto img = build_elf(segs, 0, pvh_note(kBase));
  REQUIRE(img.ehdr().e_phnum == kSegments);

  auto t0 = std::chrono::steady_clock::now();
  auto p = plan(img);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("plan_load of 65,534 segments: " << ms << " ms");
  CHECK(p.pvh_entry == kBase);
  REQUIRE(p.segments.size() == kSegments);
  for (unsigned i = 0; i < kSegments; i += 4093) {  // program header order is kept
    CAPTURE(i);
    CHECK(p.segments[i].paddr == kBase + 2 * uint64_t(kSegments - 1 - i));
    CHECK(p.segments[i].mem_size == 1);
  }

  // One overlap among them is found, wherever it is, and named.
  auto bad = img;
  bad.edit_phdr(100, [](Elf64_Phdr& ph) { ph.p_memsz = 3; });  // runs into the segment above it (phdr 99)
  CHECK_THROWS_WITH_AS(plan(bad), Contains("segment 100 overlaps another segment"), Error);
  bad = img;
  bad.edit_phdr(kSegments - 1, [](Elf64_Phdr& ph) { ph.p_paddr = kBase + 2 * 40000; });  // the same byte as phdr 25533
  CHECK_THROWS_WITH_AS(plan(bad), Contains("segment 65533 overlaps another segment"), Error);
  bad = img;
  bad.edit_phdr(0, [](Elf64_Phdr& ph) { ph.p_paddr = kBase - 0x100000 + 0x100000; ph.p_memsz = 0x1000; });  // covers many
  CHECK_THROWS_WITH_AS(plan(bad), Contains("overlaps another segment"), Error);
}

}  // TEST_SUITE
