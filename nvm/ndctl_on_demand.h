// libndctl and libdaxctl, loaded only when libpmem calls into them
// (ndctl_on_demand.cpp says why).
#pragma once

namespace hsls::nvm {

// True once libndctl has been loaded into this process, by anyone.
bool ndctl_loaded();

}  // namespace hsls::nvm
