// Transpose fast paths (planner + blocked 4x4 SIMD transpose + row copies) against ref::transpose
// on every compiled target, incl. tile tails and the attention / layout permutations.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "kernels/layout.h"
#include "kernels/ref/ref_kernels.h"
#include "opt_test_util.h"

namespace effi::kernels {
namespace {

using testing_util::ForEachTarget;

// Plans and runs `perm` on `shape` (elements of elem_size bytes); false when the planner declines.
bool RunTransposeCase(int64_t elem_size, const std::vector<int64_t>& shape,
                      const std::vector<int64_t>& perm) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  std::vector<unsigned char> x(static_cast<size_t>(count * elem_size));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<unsigned char>(i * 131 + i / 251);
  std::vector<unsigned char> want(x.size()), got(x.size(), 0xAB);
  const int rank = static_cast<int>(shape.size());
  ref::transpose(elem_size, rank, shape.data(), perm.data(), x.data(), want.data());
  TransposePlan plan;
  if (!PlanTranspose(elem_size, rank, shape.data(), perm.data(), &plan)) return false;
  const int64_t split = plan.outer / 2;
  TransposeRun(plan, x.data(), got.data(), 0, split);
  TransposeRun(plan, x.data(), got.data(), split, plan.outer);
  EXPECT_EQ(got, want);
  return true;
}

TEST(OptTranspose, PlannedPermutationsMatchReferenceAllTargets) {
  using V = std::vector<int64_t>;
  ForEachTarget([&](const std::string&) {
    const std::pair<V, V> cases[] = {
        {{1, 48, 56, 56}, {0, 2, 3, 1}},  // NCHW -> NHWC
        {{2, 3, 5, 7}, {0, 2, 3, 1}},
        {{2, 3, 7, 9}, {0, 2, 3, 1}},  // 3 planes: the interleaving path, with a tail
        {{1, 3, 16, 16}, {0, 2, 3, 1}},
        {{1, 17, 1, 9}, {0, 2, 3, 1}},
        {{1, 56, 56, 48}, {0, 3, 1, 2}},  // NHWC -> NCHW
        {{2, 5, 7, 3}, {0, 3, 1, 2}},
        {{1, 8, 49, 32}, {0, 2, 1, 3}},  // attention heads
        {{1, 49, 8, 64}, {0, 2, 1, 3}},
        {{2, 3, 5, 4}, {0, 2, 1, 3}},
        {{1, 8, 49, 32}, {0, 1, 3, 2}},  // k^T
        {{33, 65}, {1, 0}},
        {{4, 9, 13}, {0, 2, 1}},
        {{5, 6, 7}, {1, 0, 2}},
        {{3, 4, 5}, {0, 1, 2}},  // identity: a copy
        {{3, 4, 5}, {2, 0, 1}},  // = [12, 5] -> [5, 12]
        {{1, 1, 1}, {2, 1, 0}},
    };
    for (const auto& [shape, perm] : cases) {
      for (int64_t es : {int64_t{4}, int64_t{1}, int64_t{8}}) {
        SCOPED_TRACE(testing::Message()
                     << "es=" << es << " shape[0]=" << shape[0] << " perm[1]=" << perm[1]);
        const bool planned = RunTransposeCase(es, shape, perm);
        // Only a true 2-D transpose of single elements needs 4-byte elements.
        if (es == 4) {
          EXPECT_TRUE(planned);
        }
      }
    }
    // Not a single swap: left to the reference.
    EXPECT_FALSE(RunTransposeCase(4, {2, 3, 4, 5}, {0, 3, 2, 1}));
    EXPECT_FALSE(RunTransposeCase(8, {6, 7}, {1, 0}));
  });
}

TEST(OptTranspose, TwoDimensionalTailsAllTargets) {
  ForEachTarget([&](const std::string&) {
    for (int64_t a : {1, 3, 4, 5, 31, 32, 33, 70})
      for (int64_t b : {1, 2, 4, 7, 32, 45}) {
        SCOPED_TRACE(testing::Message() << a << "x" << b);
        std::vector<uint32_t> x(static_cast<size_t>(2 * a * b)), got(x.size(), 0), want(x.size());
        std::iota(x.begin(), x.end(), 1u);
        for (int64_t o = 0; o < 2; ++o)
          for (int64_t i = 0; i < a; ++i)
            for (int64_t j = 0; j < b; ++j)
              want[static_cast<size_t>((o * b + j) * a + i)] =
                  x[static_cast<size_t>((o * a + i) * b + j)];
        Transpose2dX32(2, a, b, x.data(), got.data());
        EXPECT_EQ(got, want);
      }
  });
}

}  // namespace
}  // namespace effi::kernels
