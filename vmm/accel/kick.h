// The signal that kicks a vCPU thread out of the guest (also the epoch
// timer's, aimed at vCPU 0's thread): its handler tells the vCPU the thread
// runs, whatever the backend.
#pragma once
#include <signal.h>

namespace hsls::accel {

class Vcpu;

inline constexpr int kKickSignal = SIGUSR1;

// Installs the handler (once per process; idempotent).
void install_kick_signal();
// The vCPU whose thread this is (its kicked_by_signal() runs in the handler).
void set_thread_vcpu(Vcpu* vcpu);

}  // namespace hsls::accel
