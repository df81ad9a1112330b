#pragma once
// skiff_core: the vocabulary every module shares. Status/Result and the propagation macros,
// JSON (Boost.JSON) and YAML conversion, settings, the injected clock, randomness and
// digests, file helpers, logging and Prometheus metrics. Depends on nothing else of skiff;
// knows nothing about HTTP, models or pipelines. Everything here is thread-safe unless the
// header says otherwise.

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/result.hpp"
#include "core/status.hpp"
#include "core/yaml.hpp"
