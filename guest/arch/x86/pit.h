// 8254 PIT channel 0, used once at boot as a reference clock.
#pragma once
#include "kernel/types.h"

class Pit {
 public:
  static constexpr u32 HZ = 1193182;

  // Starts channel 0 as a free-running rate generator (mode 2, reload 65536).
  static void start();

  // Latches and reads channel 0's current count.
  static u16 count();

  // Leaves channel 0 in one-shot mode so it stops interrupting.
  static void stop();
};
