// models/ir_test.cc — Model::ParameterCount and FindLayer.

#include "models/ir.h"

#include <vector>

#include "gtest/gtest.h"
#include "models/test_util.h"

namespace ghostnv::models {
namespace {

TEST(ModelTest, ParameterCountCountsEveryPresentTensor) {
  std::vector<float> buf(1000, 0.0f);
  Model m;
  EXPECT_EQ(m.ParameterCount(), 0u);
  Layer d;
  d.name = "d";
  d.kind = LayerKind::kDense;
  d.inputs = 3;
  d.units = 2;
  d.weights = buf.data();
  m.layers.push_back(d);
  EXPECT_EQ(m.ParameterCount(), 6u);
  m.layers[0].bias = buf.data();
  EXPECT_EQ(m.ParameterCount(), 8u);
  Layer g;
  g.name = "g";
  g.kind = LayerKind::kGru;
  g.inputs = 2;
  g.units = 5;
  g.weights = buf.data();
  g.recurrent = buf.data();
  m.layers.push_back(g);
  EXPECT_EQ(m.ParameterCount(), 8u + 2 * 15 + 5 * 15);
  m.layers[1].bias = buf.data();
  m.layers[1].recurrent_bias = buf.data();
  EXPECT_EQ(m.ParameterCount(), 8u + 2 * 15 + 5 * 15 + 15 + 15);
  EXPECT_EQ(m.FindLayer("g"), &m.layers[1]);
  EXPECT_EQ(m.FindLayer("x"), nullptr);
}

TEST(ModelTest, ParameterCountMatchesRandomModels) {
  testing::OwnedModel om = testing::RandomModel(1);
  size_t expect = 0;
  for (const Layer& l : om.model->layers) {
    expect += testing::WeightsCount(l);
    if (l.recurrent) expect += testing::RecurrentCount(l);
    if (l.bias) expect += testing::BiasCount(l);
    if (l.recurrent_bias) expect += testing::BiasCount(l);
  }
  EXPECT_EQ(om.model->ParameterCount(), expect);
  // in 7->13 +bias; gru_a 13->113 + both biases; gru_b 113->1; out 1->3; lin 3->5 +bias.
  EXPECT_EQ(expect, 7u * 13 + 13 + 13 * 339 + 113 * 339 + 339 + 339 + 113 * 3 + 1 * 3 + 1 * 3 +
                        3 * 5 + 5);
}

}  // namespace
}  // namespace ghostnv::models
