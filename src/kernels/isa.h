// ISA selection for the optimised kernels. Chosen once (the best target Highway compiled and the
// CPU supports), capped by the EFFI_MAX_ISA environment variable
// (scalar|avx2|avxvnni|avx512|neon); kernels never test CPU features themselves.
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
// Applies EFFI_MAX_ISA (called automatically on first use; applied once per process, by the first
// call that succeeds). A bad value throws Error(kInvalidArgument) ("EFFI_MAX_ISA='avx5' is not
// valid; valid: scalar, ...") from every call until then, so the first caller (Model::Load,
// through CheckEnvironment) reports it.
void InitIsa();
// EFFI_KERNELS: unset, empty or "auto" -> false (optimised kernels), "ref" -> true (the plain
// reference kernels everywhere); anything else -> Error(kInvalidArgument) listing the valid values
// (a typo such as "reff" used to run the optimised kernels silently).
bool ReferenceKernelsRequested();
// Validates both variables (Model::Load calls it first, so a bad value fails there, on the
// caller's thread, before any kernel runs).
void CheckEnvironment();
// Tests: restrict dispatch to exactly one target (0 = back to normal selection).
void ForceTargetForTest(int64_t target);
// The int8 dot-product extension of the base targets, detected once: ARM64 FEAT_DotProd (sdot:
// Cortex-A55/A76, not A53; getauxval) or x86 AVX-VNNI (VEX vpdpbusd on ymm: Alder Lake, Zen 5;
// cpuid 7.1 EAX bit 4); false elsewhere, and under EFFI_MAX_ISA=avx2 (AVX2 as Haswell-Skylake
// have it). Highway has no target for either, so the int8 GEMM's NEON and AVX2 code packs for
// its dot-product kernel when this is set (the AVX-512 target has VNNI in its own AVX3_DL target).
bool HasInt8DotProd();
// Tests: false hides the extension (the int8 GEMM then packs for its widening kernel), true
// restores detection.
void AllowInt8DotProdForTest(bool allow);

}  // namespace effi::kernels
