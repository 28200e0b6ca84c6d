/* Stack painting: fill the unused stack with a pattern at boot, later find how deep it went.
 *
 *     mcd_stack_paint();                 first thing in main()
 *     uint32_t used = mcd_stack_high_water();   bytes ever used below the top of RAM
 */
#ifndef MCD_STACK_H
#define MCD_STACK_H

#include <stdint.h>

void mcd_stack_paint(void);
uint32_t mcd_stack_high_water(void);
uint32_t mcd_stack_size(void);

#endif
