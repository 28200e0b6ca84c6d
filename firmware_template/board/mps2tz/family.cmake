# MPS2 TrustZone images (AN505, AN521): CMSDK APB UARTs behind the SSE-200.
set(MCD_VENDOR arm)        # board/arm/: the CMSDK UART
set(MCD_UART_IP uart_cmsdk)
