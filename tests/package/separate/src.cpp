// The one unit that compiles rtmsg in a separate-compilation build (RTMSG_SEPARATE_COMPILATION).
#include <rtmsg/src.hpp>
