// procpool tests — main() for a Qt Test suite whose executable is also its own pool worker.
#pragma once

#include <procpool/worker.h>

#include <QtCore/QCoreApplication>
#include <QtTest/QTest>

#include "testwait.h"

#define PROCPOOL_TEST_MAIN(TestClass)                                                         \
    int main(int argc, char **argv)                                                           \
    {                                                                                         \
        procpool::workerMain(argc, argv);                                                     \
        QCoreApplication app(argc, argv);                                                     \
        TestClass test;                                                                       \
        return QTest::qExec(&test, argc, argv);                                               \
    }
