#include "common/model/evaluate.h"

#include "common/errors.h"

namespace fsd::model {

std::vector<double> EvaluateAccuracy(MultiExitNet& model, const data::Dataset& dataset,
                                     int batch_size) {
  FSD_CHECK(batch_size > 0 && dataset.size() > 0) << "nothing to evaluate";
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::vector<std::int64_t> correct(static_cast<std::size_t>(model->num_exits()), 0);
  for (std::int64_t begin = 0; begin < dataset.size(); begin += batch_size) {
    const std::int64_t size = std::min<std::int64_t>(batch_size, dataset.size() - begin);
    const auto logits = model->forward(dataset.images.narrow(0, begin, size));
    const auto labels = dataset.labels.narrow(0, begin, size);
    for (std::size_t k = 0; k < logits.size(); ++k) {
      correct[k] += logits[k].argmax(/*dim=*/1).eq(labels).sum().item<std::int64_t>();
    }
  }
  model->train(was_training);
  std::vector<double> accuracy;
  for (const auto c : correct) accuracy.push_back(static_cast<double>(c) / dataset.size());
  return accuracy;
}

}  // namespace fsd::model
