// ISA selection for the optimised kernels. Chosen once (the best target Highway compiled and the
// CPU supports), capped by the EFFI_MAX_ISA environment variable (scalar|avx2|avx512|neon);
// kernels never test CPU features themselves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace effi::kernels {

// Name of the active SIMD target, e.g. "AVX3" (AVX-512), "AVX2", "NEON", "EMU128" (scalar).
std::string ActiveIsaName();
// Highway target bits of every target compiled into this binary and supported by this CPU.
std::vector<int64_t> AvailableTargets();
std::string TargetName(int64_t target);
// Applies EFFI_MAX_ISA (called automatically on first use). Throws std::invalid_argument on a
// bad value.
void InitIsa();
// Tests: restrict dispatch to exactly one target (0 = back to normal selection).
void ForceTargetForTest(int64_t target);
// ARM64 dot product instructions (FEAT_DotProd: SDOT/UDOT, Cortex-A55/A76, not A53), read once
// from getauxval(AT_HWCAP); false elsewhere. The int8 GEMM packs for its NEON sdot kernel when set.
bool HasArmDotProd();
// Tests: false hides the dot product instructions (the NEON int8 GEMM then packs for its widening
// kernel), true restores detection.
void AllowArmDotProdForTest(bool allow);

}  // namespace effi::kernels
