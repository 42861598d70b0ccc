/* qtip_pack.h — packed model directories and verification (owned by the pack/verify work). */
#ifndef QTIP_PACK_H
#define QTIP_PACK_H
#endif
