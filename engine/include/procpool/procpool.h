// procpool — managed process pools for Qt 6. Include this one header.
#pragma once

#include <procpool/codec.h>
#include <procpool/errors.h>
#include <procpool/hosts.h>
#include <procpool/inspection.h>
#include <procpool/mapstream.h>
#include <procpool/options.h>
#include <procpool/processpool.h>
#include <procpool/processpoolmanager.h>
#include <procpool/task.h>
#include <procpool/worker.h>
