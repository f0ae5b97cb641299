#ifndef C_QRENCODE_SHIM_H
#define C_QRENCODE_SHIM_H
#include <qrencode.h>
#endif
