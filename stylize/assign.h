#pragma once
// Which painting styles which image, and the record of it. The style of a content image is a
// function of the seed and the image's path relative to the content root only, so a dataset is
// the same whatever the order, sharding or resumption of the runs that make it (unlike the
// reference scripts, which draw from one random stream in file order). No torch here.
#include <cstdint>
#include <string>
#include <vector>

namespace bagnet::stylize {

struct StyleSet {
  std::string root;                // the --styles folder
  std::vector<std::string> files;  // image files below it, sorted
  std::vector<std::string> keys;   // the same, relative to the root ('/'-separated)
  // SHA-256 of the sorted relative paths and file sizes: which style set a manifest was made with.
  std::string fingerprint;
};

// The images of a style folder (recursively). Throws bagnet::Error for a missing folder or one
// without image files.
StyleSet open_style_set(const std::string& dir);

// `per_image` distinct styles (indices into `style_count` sorted styles) for the content image
// `key`: draw d is SHA-256("bagnet-stylize/1", seed, key, d) mod style_count, repeats redrawn.
// Throws bagnet::Error when per_image > style_count.
std::vector<std::size_t> assign_styles(std::uint64_t seed, const std::string& key, std::size_t style_count,
                                       int per_image);

// One output image: paths relative to the content root, the style root and the output folder.
struct ManifestRow {
  std::string content, style, alpha, output;
};

// A CSV line (RFC 4180 quoting where a field needs it), without the newline.
std::string manifest_line(const ManifestRow& row);
constexpr const char* kManifestHeader = "content,style,alpha,output";
// Header plus the lines in byte order: the same rows give the same file, however they were made.
std::string manifest_csv(std::vector<std::string> lines);

// The file names of a run's manifest and skipped list: "manifest.csv" / "skipped.txt" for an
// unsharded run, "manifest-I-of-N.csv" / "skipped-I-of-N.txt" for shard I of N (0-based, as --shard).
std::string shard_suffix(std::size_t index, std::size_t count);

// bagnet-stylize --merge: the shards' manifests (and skipped lists) of OUT into OUT/manifest.csv,
// manifest.json and skipped.txt. Every shard 0..N-1 must be present and finished, and all must
// describe the same dataset (seed, options, weights, style set, content list). Returns the number
// of rows. Throws bagnet::Error naming the file and the reason.
std::size_t merge_manifests(const std::string& output_dir);

}  // namespace bagnet::stylize
