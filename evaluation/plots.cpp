#include "evaluation/plots.h"
// Placeholder: being written (cairo figures).
