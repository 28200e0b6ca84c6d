# MPS2 FPGA images (AN385/AN386/AN500): CMSDK APB UARTs.
set(MCD_VENDOR arm)        # board/arm/: the CMSDK UART
set(MCD_UART_IP uart_cmsdk)
