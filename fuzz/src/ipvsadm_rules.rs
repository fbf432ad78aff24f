//! `ipvsadm -R` rules import (`ipvs_sys::ipvsadm::parse_rules`): no panic; a table that
//! imports saves (`ipvsadm -S -n` format) to rules that import back to the same table (as
//! ipvsadm saves it: without thresholds, and without the netmask of a service that is not
//! persistent) and save to the same text; every service and
//! destination written as an ipvsadm command line (thresholds included) imports back to
//! itself; the `ipvsadm -Ln` listing of the table is written without panicking.

use ipvs_sys::ipvsadm::{command_line, format_list, format_save, parse_rules};
use ipvs_sys::{Info, IpvsState, Netmask, Op, Service, ServiceFlags, VirtualService};

/// The target's body.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(state) = parse_rules(text) else {
        return;
    };
    let saved = format_save(&state);
    let again =
        parse_rules(&saved).unwrap_or_else(|e| panic!("saved rules do not import: {e}\n{saved}"));
    assert_eq!(
        canonical(&again),
        canonical(&as_saved(&state)),
        "saved:\n{saved}"
    );
    assert_eq!(format_save(&again), saved);

    for vs in &state.services {
        let add = command_line(&Op::AddService(vs.service.clone()));
        let one = parse_rules(&add).unwrap_or_else(|e| panic!("{add}: {e}"));
        assert_eq!(one.services.len(), 1);
        assert_eq!(one.services[0].service, as_written(&vs.service), "{add}");
        for d in &vs.destinations {
            let line = command_line(&Op::AddDest(vs.service.key, d.clone()));
            let both = format!("{add}\n{line}\n");
            let table = parse_rules(&both).unwrap_or_else(|e| panic!("{both}: {e}"));
            assert_eq!(
                table.services[0].destinations,
                std::slice::from_ref(d),
                "{both}"
            );
        }
    }
    let _ = format_list(
        &state,
        &Info {
            version: 0x010907,
            conn_tab_size: 4096,
        },
    );
}

/// What `ipvsadm -S` keeps of a table: thresholds are not saved, and a service as
/// [`as_written`].
fn as_saved(state: &IpvsState) -> IpvsState {
    let mut state = state.clone();
    for vs in &mut state.services {
        vs.service = as_written(&vs.service);
        for d in &mut vs.destinations {
            d.upper_threshold = 0;
            d.lower_threshold = 0;
        }
    }
    state
}

/// A service as ipvsadm writes it: `-M` only with `-p` (the kernel uses the netmask for
/// persistence only).
fn as_written(service: &Service) -> Service {
    let mut service = service.clone();
    if !service.flags.contains(ServiceFlags::PERSISTENT) {
        service.netmask = Netmask::full(service.key.af());
    }
    service
}

/// Services in key order, destinations in address order: the order of the rules is not
/// part of the table.
fn canonical(state: &IpvsState) -> Vec<VirtualService> {
    let mut services = state.services.clone();
    services.sort_by_key(|vs| format!("{:?}", vs.service.key));
    for vs in &mut services {
        vs.destinations.sort_by_key(|d| d.addr);
    }
    services
}
