// The software 8259 pair: initialisation, masking, OCW2/OCW3, priorities,
// the cascade, save/restore.
#include <doctest/doctest.h>

#include "vmm/core/error.h"
#include "vmm/platform/pic.h"

using namespace hsls;
using namespace hsls::platform;
using doctest::Contains;

namespace {

// The guest's sequence (guest/arch/x86/pic.cpp) without the final masking.
void init(Pic& pic, uint8_t icw4 = 0x01) {
  pic.write(0x20, 0x11);
  pic.write(0xa0, 0x11);
  pic.write(0x21, 0x20);
  pic.write(0xa1, 0x28);
  pic.write(0x21, 0x04);
  pic.write(0xa1, 0x02);
  pic.write(0x21, icw4);
  pic.write(0xa1, icw4);
}

}  // namespace

TEST_SUITE("platform-pic") {

TEST_CASE("power-on: everything masked, nothing pending") {
  Pic pic;
  CHECK(pic.read(0x21) == 0xff);
  CHECK(pic.read(0xa1) == 0xff);
  CHECK(pic.read(0x20) == 0);
  pic.set_irq(1, true);
  CHECK(pic.pending() == -1);
  CHECK(pic.read(0x20) == 0x02);  // requested, masked
  CHECK(Pic::owns(0x20));
  CHECK(Pic::owns(0xa1));
  CHECK_FALSE(Pic::owns(0x22));
  CHECK(pic.read(0x22) == 0xff);
}

TEST_CASE("the guest's initialisation and masking") {
  Pic pic;
  init(pic);
  CHECK(pic.read(0x21) == 0x00);  // ICW1 clears the mask
  CHECK(pic.read(0xa1) == 0x00);
  pic.write(0x21, 0xff);
  pic.write(0xa1, 0xff);
  CHECK(pic.read(0x21) == 0xff);
  CHECK(pic.read(0xa1) == 0xff);
  PicState s = pic.save();
  CHECK(s.master.vector_base == 0x20);
  CHECK(s.slave.vector_base == 0x28);
  CHECK(s.master.init_step == 0);
  CHECK(s.slave.init_step == 0);
  CHECK(s.master.auto_eoi == 0);
  for (unsigned irq = 0; irq < 16; ++irq) pic.set_irq(irq, true);
  CHECK(pic.pending() == -1);
}

TEST_CASE("OCW3 selects IRR or ISR; OCW2 EOI") {
  Pic pic;
  init(pic);
  pic.write(0x21, 0xfd);  // only IRQ 1
  pic.set_irq(1, true);
  CHECK(pic.read(0x20) == 0x02);  // IRR is read by default
  CHECK(pic.pending() == 0x21);
  CHECK(pic.acknowledge() == 0x21);
  CHECK(pic.read(0x20) == 0x00);  // edge request consumed
  pic.write(0x20, 0x0b);          // OCW3: read ISR
  CHECK(pic.read(0x20) == 0x02);
  CHECK(pic.pending() == -1);
  pic.write(0x20, 0x20);  // non-specific EOI
  CHECK(pic.read(0x20) == 0x00);
  pic.write(0x20, 0x0a);  // OCW3: read IRR
  pic.set_irq(1, false);
  pic.set_irq(1, true);
  CHECK(pic.read(0x20) == 0x02);
  CHECK(pic.pending() == 0x21);
}

TEST_CASE("masking and priority") {
  Pic pic;
  init(pic);
  pic.write(0x21, 0xf4);  // IRQs 0, 1, 3 unmasked
  pic.set_irq(1, true);
  CHECK(pic.acknowledge() == 0x21);
  pic.set_irq(3, true);  // lower priority than IRQ 1 in service
  CHECK(pic.pending() == -1);
  pic.set_irq(0, true);  // higher: nests
  CHECK(pic.pending() == 0x20);
  CHECK(pic.acknowledge() == 0x20);
  pic.write(0x20, 0x0b);
  CHECK(pic.read(0x20) == 0x03);
  pic.write(0x20, 0x61);  // specific EOI of IRQ 1 (leaving 0 in service)
  CHECK(pic.read(0x20) == 0x01);
  CHECK(pic.pending() == -1);
  pic.write(0x20, 0x20);
  CHECK(pic.pending() == 0x23);
  pic.write(0x21, 0xfc);  // mask IRQ 3 again
  CHECK(pic.pending() == -1);
}

TEST_CASE("slave lines through the cascade") {
  Pic pic;
  init(pic);
  pic.write(0x21, 0xfb);  // master: only the cascade
  pic.write(0xa1, 0xfb);  // slave: only line 2 (IRQ 10)
  pic.set_irq(10, true);
  CHECK(pic.pending() == 0x2a);
  CHECK(pic.acknowledge() == 0x2a);
  pic.write(0x20, 0x0b);
  pic.write(0xa0, 0x0b);
  CHECK(pic.read(0x20) == 0x04);
  CHECK(pic.read(0xa0) == 0x04);
  pic.write(0xa0, 0x20);
  pic.write(0x20, 0x20);
  CHECK(pic.read(0x20) == 0x00);
  CHECK(pic.read(0xa0) == 0x00);
  pic.set_irq(2, true);  // the cascade is not an input
  CHECK(pic.pending() == -1);
}

TEST_CASE("poll, auto-EOI, rotation, level mode") {
  Pic pic;
  init(pic, 0x03);  // auto-EOI
  pic.write(0x21, 0x00);
  pic.set_irq(5, true);
  CHECK(pic.acknowledge() == 0x25);
  pic.write(0x20, 0x0b);
  CHECK(pic.read(0x20) == 0x00);  // nothing left in service

  Pic p2;
  init(p2);
  p2.write(0x21, 0x00);
  p2.set_irq(6, true);
  p2.write(0x20, 0x0c);  // poll
  CHECK(p2.read(0x20) == 0x86);
  p2.write(0x20, 0x0b);
  CHECK(p2.read(0x20) == 0x40);  // the poll acknowledged it
  p2.write(0x20, 0x0c);
  CHECK(p2.read(0x20) == 0x00);  // nothing more
  p2.write(0x20, 0xa0);          // rotate on non-specific EOI: IRQ 6 becomes lowest
  CHECK(p2.save().master.priority_add == 7);
  p2.set_irq(0, true);
  p2.set_irq(7, true);
  CHECK(p2.pending() == 0x27);  // 7 now outranks 0

  Pic p3;
  p3.write(0x20, 0x19);  // level-triggered
  p3.write(0x21, 0x30);
  p3.write(0x21, 0x01);
  p3.write(0x21, 0x00);
  p3.set_irq(4, true);
  CHECK(p3.acknowledge() == 0x34);
  p3.write(0x20, 0x20);
  CHECK(p3.pending() == 0x34);  // still asserted
  p3.set_irq(4, false);
  CHECK(p3.pending() == -1);
  CHECK(p3.acknowledge() == 0x37);  // spurious
}

TEST_CASE("save/restore round trip and refusals") {
  Pic a;
  init(a);
  a.write(0x21, 0xf0);
  a.set_irq(1, true);
  a.acknowledge();
  a.set_irq(3, true);
  a.write(0x20, 0x0b);
  PicState s = a.save();
  Pic b;
  b.restore(s);
  CHECK(b.read(0x20) == 0x02);
  CHECK(b.read(0x21) == 0xf0);
  b.write(0x20, 0x20);
  CHECK(b.pending() == 0x23);

  PicState bad = s;
  bad.version = 0;
  CHECK_THROWS_WITH_AS(b.restore(bad), Contains("version 0"), Error);
  bad = s;
  bad.slave.init_step = 4;
  CHECK_THROWS_WITH_AS(b.restore(bad), Contains("slave: saved initialisation step 4"), Error);
  bad = s;
  bad.master.vector_base = 0x21;
  CHECK_THROWS_WITH_AS(b.restore(bad), Contains("vector base"), Error);
  bad = s;
  bad.master.auto_eoi = 2;
  CHECK_THROWS_WITH_AS(b.restore(bad), Contains("flag"), Error);
}

}  // TEST_SUITE
