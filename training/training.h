#pragma once
// Training and fine-tuning BagNets (and any registered network): the core of bagnet-train.
// Torch-free interface.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "networks/bagnet_config.h"

namespace bagnet {

struct TrainConfig {
  // Architecture: a registry model name, or "bagnet" with the fields below (a custom BagNet).
  std::string model = "bagnet";
  // The configurable BagNet. in_channels 0: from the data (1 for idx files, 3 for folders);
  // num_classes: from the data. The stem BatchNorm's momentum is the usual 0.1: the reference
  // BagNets' 0.001 settles too slowly for short runs.
  BagNetConfig bagnet = [] {
    BagNetConfig b;
    b.in_channels = 0;
    b.stem_bn_momentum = 0.1;
    return b;
  }();
  std::string init;       // checkpoint to start from (fine-tuning)
  bool new_head = false;  // re-initialise the final Linear (head_layer(); e.g. for another class count)

  // Data: an MNIST-style idx directory, or ImageNet-style class folders.
  std::string data;              // directory
  std::string val_data;          // folders: held-out directory ("" = none); idx: the t10k files of `data`
  int image_size = 0;            // folders: resize shorter side + centre crop to this; idx: native size
  std::vector<float> mean, std;  // normalisation (default: from the data's mean/std of the first 10k images)
  int limit_train = 0;           // use only the first N training images (0 = all); for quick runs and tests
  int limit_val = 0;

  // Optimisation.
  std::string optimizer = "sgd";  // sgd (momentum, nesterov off) | adamw
  double lr = 0.1, momentum = 0.9, weight_decay = 5e-4;
  std::string schedule = "cosine";  // cosine | step | constant
  int step_size = 30;
  double step_gamma = 0.1;
  int warmup_epochs = 0;
  int epochs = 10, batch_size = 128;
  // "Precise BN": after each epoch, BatchNorm statistics are recomputed as plain averages over
  // this many training images (no augmentation, fixed order) instead of the running averages,
  // which lag behind the weights (badly so with the reference stem momentum of 0.001).
  int precise_bn = 0;
  int crop_padding = 0;  // random crop with this zero padding (torchvision RandomCrop(size, padding))
  bool flip = false;     // random horizontal flip
  uint64_t seed = 0;

  // Run.
  std::string output_dir;  // checkpoint.pt, optimizer.pt, state.json, config.json, log.jsonl
  bool resume = false;
  int stop_after_epochs = 0;  // stop (as if interrupted) after this many epochs in this run; 0 = never
  std::string device = "auto";
  bool progress = true;
};

struct EpochRecord {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0, lr = 0, seconds = 0,
         images_per_second = 0;
  std::vector<double> val_per_class_accuracy;  // index = class
};

struct TrainResult {
  std::vector<EpochRecord> epochs;  // those run in this call
  int completed_epochs = 0;         // in total, including resumed ones
  std::string checkpoint;
  int interrupted_epoch = 0;  // SIGINT/SIGTERM: the epoch that was stopped (not saved); 0 = none
};

// Trains; writes checkpoints atomically after every epoch. Throws bagnet::Error on bad data,
// a bad configuration, an output directory that holds another run (without --resume) or that
// another live run writes into (lib/run_lock.h). On SIGINT/SIGTERM stops after the step in
// hand, keeps the last complete epoch and sets TrainResult::interrupted_epoch.
TrainResult train(const TrainConfig& config);

// The run's configuration as JSON (saved as config.json and reusable as a registry row).
nlohmann::json train_config_json(const TrainConfig& config);

struct EvalResult {
  int count = 0;
  double accuracy = 0, loss = 0;
  std::vector<int> per_class_count, per_class_correct;
};

// Accuracy of a registered model on an MNIST-style idx directory's test split (first `limit`
// images if limit > 0), with the registry's preprocessing.
EvalResult evaluate_idx(const std::string& model, const std::string& weights, const std::string& idx_dir,
                        int limit, const std::string& device, int batch_size = 500);

}  // namespace bagnet
