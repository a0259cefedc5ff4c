// Saving and restoring the global random-number generator (the one
// manual_seed seeds and rand/randn/randint/dropout draw from), so a training
// run resumed from a checkpoint draws exactly the numbers it would have drawn.
#pragma once
#include <string>

namespace tt::ops {

// The generator's full state as text (the standard's portable mt19937_64 format).
std::string rng_state();
// Restores a state produced by rng_state(); ValueError if `state` is not one.
void set_rng_state(const std::string& state);

}  // namespace tt::ops
